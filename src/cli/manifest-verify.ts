import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ErrandError } from '../errors.ts';
import { DEFAULT_AUDIENCE, isCompactJws, loadManifestJws } from '../manifest/jws.ts';
import { parseTrustKey, readKeyFile, type TrustKey } from '../manifest/keys.ts';
import { formatProblems } from '../manifest/load.ts';
import type { LoadedManifest } from '../manifest/types.ts';
import type { Command } from './io.ts';

const USAGE = `usage: errand manifest verify <jws-file> --trust-key <PEM|JWK|JWKS file> [--audience <aud>] [--issuer <iss>]
  exit 0 valid, 1 invalid, 2 usage or unreadable input
`;

// `errand manifest verify`: the startup check of a signed manifest, run by hand. Steps: parse
// arguments, read the trust key, verify the JWS and its claims, load the manifest, print one line.
export const verifyCommand: Command = async (argv, io) => {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (error) {
    io.stderr(`errand manifest verify: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  let trustKey: TrustKey;
  try {
    trustKey = parseTrustKey(await readKeyFile(resolve(io.cwd, args.trustKey)));
  } catch (error) {
    if (!(error instanceof ErrandError)) throw error;
    io.stderr(`errand manifest verify: ${error.code}: ${error.message}\n`);
    return 2;
  }
  const path = resolve(io.cwd, args.file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    io.stderr(
      `${args.file}:1:1: ERR_MANIFEST_READ cannot read the file (${(error as NodeJS.ErrnoException).code})\n`,
    );
    return 2;
  }
  if (!isCompactJws(text)) {
    io.stderr(
      `${args.file}:1:1: ERR_JWS_MALFORMED this is not a compact JWS (fix: sign it with errand manifest sign)\n`,
    );
    return 1;
  }
  const result = await loadManifestJws(text.trim(), {
    now: Date.now(),
    trustKey,
    audience: args.audience ?? DEFAULT_AUDIENCE,
    ...(args.issuer !== undefined ? { issuer: args.issuer } : {}),
  });
  if (!result.ok) {
    io.stderr(formatProblems(args.file, result.problems));
    return 1;
  }
  io.stdout(`${summarize(result.loaded)}\n`);
  return 0;
};

/** One line a reviewer can read: who, how much, until when, which bytes. */
export function summarize(loaded: LoadedManifest): string {
  const m = loaded.manifest;
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  return [
    `ok: task ${m.task.id} for ${m.task.user.subject} (session ${m.task.user.session})`,
    `${count(m.aws?.grants.length ?? 0, 'AWS grant')}, ${count(m.http?.grants.length ?? 0, 'HTTP grant')}, ${count(m.http?.passthrough.length ?? 0, 'passthrough host')}`,
    `expires ${m.task.expiresAt}`,
    `sha256 ${loaded.sha256}`,
  ].join('; ');
}

function parse(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      'trust-key': { type: 'string' },
      audience: { type: 'string' },
      issuer: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new Error('expected exactly one signed manifest file');
  const trustKey = values['trust-key'];
  if (trustKey === undefined) throw new Error('--trust-key is required');
  return { file: positionals[0]!, trustKey, audience: values.audience, issuer: values.issuer };
}
