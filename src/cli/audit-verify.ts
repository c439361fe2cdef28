import { readFile } from 'node:fs/promises';
import { describeTears, verifyAuditText } from '../audit/verify.ts';
import type { Command } from './io.ts';

export const auditVerifyCommand: Command = async (argv, io) => {
  if (argv.length !== 1) {
    io.stderr('usage: errand audit verify <file>\n');
    return 2;
  }
  let text: string;
  try {
    text = await readFile(argv[0]!, 'utf8');
  } catch (error) {
    io.stderr(`errand: cannot read ${argv[0]}: ${(error as NodeJS.ErrnoException).code ?? 'error'}\n`);
    return 2;
  }
  const result = verifyAuditText(text);
  if (result.ok) {
    io.stdout(`${argv[0]}: chain verified, ${result.records} records\n${describeTears(result.tears)}`);
    return 0;
  }
  io.stdout(
    `${argv[0]}:${result.line}: chain broken: ${result.problem} (${result.records} records verified before it)\n${describeTears(result.tears)}`,
  );
  return 1;
};
