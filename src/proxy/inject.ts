import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrandError } from '../errors.ts';
import type { HttpGrant, Manifest } from '../manifest/types.ts';
import { MIN_SECRET_LENGTH, scrubPatterns } from './scrub.ts';

// Credentials for HTTP grants come from files in the secrets directory (a mounted Kubernetes Secret),
// never from the manifest: the manifest only names the file (`${secret:NAME}`). They are read once
// at start, so a missing or malformed secret stops Errand before the agent runs, and held in memory
// only by the sidecar that owns this store.

/** Bound on a secret file: tokens, not documents. */
export const MAX_SECRET_BYTES = 8 * 1024;
// RFC 9110 §5.5 field-value without obs-text: visible ASCII, space and tab inside.
const FIELD_VALUE = /^[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?$/;

export interface InjectSecrets {
  /** The header value a grant injects, its secret filled in; undefined when it injects nothing. */
  valueFor(grant: HttpGrant): string | undefined;
  /** Spellings to scrub from what the upstream sends back for this grant. */
  patternsFor(grant: HttpGrant): readonly string[];
  /** Every secret held, for the canary scans and error-body redaction. */
  all(): readonly string[];
}

/** Reads every secret the manifest's grants name from `dir`. */
export async function loadInjectSecrets(m: Manifest, dir: string | undefined): Promise<InjectSecrets> {
  const names = [...new Set((m.http?.grants ?? []).flatMap((g) => (g.inject ? [g.inject.secret] : [])))];
  if (names.length > 0 && dir === undefined) {
    throw new ErrandError(
      'ERR_CONFIG',
      `the manifest injects secrets (${names.join(', ')}); pass --secrets-dir with a file for each`,
    );
  }
  const secrets = new Map<string, string>();
  for (const name of names.sort()) {
    const file = join(dir!, name);
    let text: string;
    try {
      // A regular file only: a symlink planted in a shared volume must not pick the secret (H3).
      const info = await lstat(file);
      if (!info.isFile() || info.size > MAX_SECRET_BYTES) throw new Error('not a small regular file');
      text = await readFile(file, 'utf8');
    } catch {
      throw new ErrandError('ERR_CONFIG', `secret ${name} is not a readable regular file in the secrets dir`);
    }
    const value = text.replace(/\r?\n$/, '');
    if (!FIELD_VALUE.test(value) || value.length < MIN_SECRET_LENGTH) {
      throw new ErrandError(
        'ERR_CONFIG',
        `secret ${name} must be one line of at least ${MIN_SECRET_LENGTH} visible ASCII characters`,
      );
    }
    secrets.set(name, value);
  }
  const valueFor = (g: HttpGrant): string | undefined => {
    if (!g.inject) return undefined;
    const secret = secrets.get(g.inject.secret);
    if (secret === undefined) throw new ErrandError('ERR_CONFIG', `secret ${g.inject.secret} was not loaded`);
    return g.inject.value.replace(`\${secret:${g.inject.secret}}`, () => secret);
  };
  return {
    valueFor,
    patternsFor(g) {
      const value = valueFor(g);
      return value === undefined || !g.inject ? [] : scrubPatterns(secrets.get(g.inject.secret)!, value);
    },
    all: () => [...secrets.values()],
  };
}
