import type { Command } from './io.ts';

// Placeholder until this command is built.
export const verifyCommand: Command = async (_argv, io) => {
  io.stderr('errand: manifest-verify is not built yet\n');
  return 2;
};
