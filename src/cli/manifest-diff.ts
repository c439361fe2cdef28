import type { Command } from './io.ts';

// Placeholder until this command is built.
export const diffCommand: Command = async (_argv, io) => {
  io.stderr('errand: manifest-diff is not built yet\n');
  return 2;
};
