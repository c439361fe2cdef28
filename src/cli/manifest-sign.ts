import type { Command } from './io.ts';

// Placeholder until this command is built.
export const signCommand: Command = async (_argv, io) => {
  io.stderr('errand: manifest-sign is not built yet\n');
  return 2;
};
