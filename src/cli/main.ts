import { ErrandError } from '../errors.ts';
import { type CliIo, type Command, processIo } from './io.ts';

// Commands are loaded on demand so `errand schema` does not pay for the proxy's imports.
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  schema: async () => (await import('./schema.ts')).schemaCommand,
  'manifest lint': async () => (await import('./manifest-lint.ts')).lintCommand,
  'manifest explain': async () => (await import('./manifest-explain.ts')).explainCommand,
  'manifest policy': async () => (await import('./manifest-policy.ts')).policyCommand,
  'manifest diff': async () => (await import('./manifest-diff.ts')).diffCommand,
  'manifest sign': async () => (await import('./manifest-sign.ts')).signCommand,
  'manifest verify': async () => (await import('./manifest-verify.ts')).verifyCommand,
  'audit verify': async () => (await import('./audit-verify.ts')).auditVerifyCommand,
  run: async () => (await import('./run.ts')).runCommand,
};

export const USAGE = `usage: errand <command> [options]

  run --manifest <file> [--trust-key <file>]   start the sidecar (also --listen, --proxy-listen, --ca-dir,
                                               --transparent-listen, --ops-listen, --state-dir, --secrets-dir)
  schema                                       print the manifest JSON Schema
  manifest lint <files…> [--format text|json|sarif] [--fail-level error|security|warning|suggestion]
  manifest explain <file> [--format text|markdown|json]
  manifest policy <file>                       print the STS session policies
  manifest diff <old> <new>                    print the permission delta
  manifest sign <file> --key <private key> [--audience <aud>]
  manifest verify <jws> --trust-key <file> [--audience <aud>]
  audit verify <file>                          check the audit hash chain
`;

export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [first, second] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    io.stdout(USAGE);
    return first === undefined ? 2 : 0;
  }
  const two = `${first} ${second ?? ''}`;
  const name = COMMANDS[two] ? two : COMMANDS[first] ? first : undefined;
  if (name === undefined) {
    io.stderr(`errand: unknown command '${two.trim()}'\n\n${USAGE}`);
    return 2;
  }
  const rest = argv.slice(name.split(' ').length);
  try {
    const command = await COMMANDS[name]!();
    return await command(rest, io);
  } catch (error) {
    if (error instanceof ErrandError) {
      io.stderr(`errand: ${error.code}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
