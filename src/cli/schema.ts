import type { Command } from './io.ts';

// Placeholder until this command is built.
export const schemaCommand: Command = async (_argv, io) => {
  io.stderr('errand: schema is not built yet\n');
  return 2;
};
