import type { Command } from './io.ts';

// Placeholder until this command is built.
export const lintCommand: Command = async (_argv, io) => {
  io.stderr('errand: manifest-lint is not built yet\n');
  return 2;
};
