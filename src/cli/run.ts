import type { Command } from './io.ts';

// Placeholder until this command is built.
export const runCommand: Command = async (_argv, io) => {
  io.stderr('errand: run is not built yet\n');
  return 2;
};
