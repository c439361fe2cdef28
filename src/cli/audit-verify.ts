import type { Command } from './io.ts';

// Placeholder until this command is built.
export const auditVerifyCommand: Command = async (_argv, io) => {
  io.stderr('errand: audit-verify is not built yet\n');
  return 2;
};
