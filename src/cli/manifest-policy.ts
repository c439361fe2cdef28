import type { Command } from './io.ts';

// Placeholder until this command is built.
export const policyCommand: Command = async (_argv, io) => {
  io.stderr('errand: manifest-policy is not built yet\n');
  return 2;
};
