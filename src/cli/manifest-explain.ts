import type { Command } from './io.ts';

// Placeholder until this command is built.
export const explainCommand: Command = async (_argv, io) => {
  io.stderr('errand: manifest-explain is not built yet\n');
  return 2;
};
