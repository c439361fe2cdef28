import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ErrandError } from '../errors.ts';
import { DEFAULT_AUDIENCE, signManifest } from '../manifest/jws.ts';
import { ALLOWED_ALGORITHMS, type JwsAlgorithm, parseSigningKey, readKeyFile } from '../manifest/keys.ts';
import { formatProblems, loadManifestFile } from '../manifest/load.ts';
import type { Command } from './io.ts';

const USAGE = `usage: errand manifest sign <file> --key <private key PEM|JWK> [--audience <aud>] [--alg <alg>]
                              [--issuer <iss>] [--kid <kid>] [--jti <id>]
  prints a compact JWS (typ errand-manifest+jwt); exit 0 signed, 1 invalid manifest, 2 usage or unreadable input
`;

// `errand manifest sign`: load and check a manifest source, then sign it as the orchestrator would.
// Steps: parse arguments, read the key, load the manifest (same checks as at startup), sign, print.
export const signCommand: Command = async (argv, io) => {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (error) {
    io.stderr(`errand manifest sign: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { file, key: keyPath, audience, alg, issuer, kid, jti } = args;
  if (alg !== undefined && !(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
    io.stderr(`errand manifest sign: --alg must be one of ${ALLOWED_ALGORITHMS.join(', ')}\n`);
    return 2;
  }
  let key: ReturnType<typeof parseSigningKey>;
  try {
    key = parseSigningKey(await readKeyFile(resolve(io.cwd, keyPath)));
  } catch (error) {
    if (!(error instanceof ErrandError)) throw error;
    io.stderr(`errand manifest sign: ${error.code}: ${error.message}\n`);
    return 2;
  }
  const now = Date.now();
  const result = await loadManifestFile(resolve(io.cwd, file), { now });
  if (!result.ok) {
    io.stderr(formatProblems(file, result.problems));
    return result.problems.some((p) => p.code === 'ERR_MANIFEST_READ') ? 2 : 1;
  }
  try {
    const jws = await signManifest(result, {
      key: kid !== undefined ? { ...key, kid } : key,
      now,
      audience: audience ?? DEFAULT_AUDIENCE,
      jti: jti ?? randomUUID(),
      ...(alg !== undefined ? { alg: alg as JwsAlgorithm } : {}),
      ...(issuer !== undefined ? { issuer } : {}),
    });
    io.stdout(`${jws}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof ErrandError)) throw error;
    io.stderr(`errand manifest sign: ${error.code}: ${error.message}\n`);
    return 2;
  }
};

function parse(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      key: { type: 'string' },
      audience: { type: 'string' },
      alg: { type: 'string' },
      issuer: { type: 'string' },
      kid: { type: 'string' },
      jti: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new Error('expected exactly one manifest file');
  if (values.key === undefined) throw new Error('--key is required');
  return { file: positionals[0]!, ...values, key: values.key };
}
