// Loading a task manifest: the one entry point for every caller (startup, CLI, lint). Steps: bound
// the size, parse strictly with positions, validate against the schema, run the semantic checks,
// freeze. Signed manifests (compact JWS) are verified first and then take the same path.

import { readFile } from 'node:fs/promises';
import { ErrandError } from '../errors.ts';
import {
  type CheckOptions,
  checkManifestValue,
  type LoadResult,
  type ManifestChecker,
  type Problem,
} from './check.ts';
import { parseJsonSource } from './json-source.ts';
import { DEFAULT_AUDIENCE, isCompactJws, loadManifestJws } from './jws.ts';
import { parseTrustKey, readKeyFile, type TrustKey } from './keys.ts';
import { MAX_MANIFEST_BYTES } from './positions.ts';
import { parseYamlSource } from './yaml-source.ts';

export type { LoadResult, ManifestChecker, Problem } from './check.ts';
export { createManifestChecker, MAX_MANIFEST_TTL_MS } from './check.ts';
export { MAX_MANIFEST_BYTES, MAX_MANIFEST_DEPTH, MAX_YAML_ALIASES } from './positions.ts';

export interface LoadTextOptions {
  /** The current time, epoch milliseconds: expiry is judged against it. */
  readonly now: number;
  /** Where the text came from; a `.json` name makes the source parse as strict JSON. */
  readonly fileName?: string;
  /** Reuse a compiled schema and IAM catalogue across loads. */
  readonly checker?: ManifestChecker;
  /** Review, not run: the deadline is not judged here (lint reports it as a finding), so a stored
   *  or expired manifest can still be linted, explained and compared. */
  readonly review?: boolean;
}

/** Load a manifest from its source text (YAML or JSON). Never throws on bad input. */
export function loadManifestText(text: string, opts: LoadTextOptions): LoadResult {
  return loadSource(text, text, opts);
}

function loadSource(text: string, bytes: CheckOptions['bytes'], opts: LoadTextOptions): LoadResult {
  const json = opts.fileName?.toLowerCase().endsWith('.json') === true;
  const parsed = json ? parseJsonSource(text) : parseYamlSource(text);
  if (!parsed.ok) {
    return {
      ok: false,
      problems: parsed.problems.map((p) => ({
        code: p.code,
        path: p.path,
        line: p.position.line,
        column: p.position.column,
        message: p.message,
        ...(p.fix !== undefined ? { fix: p.fix } : {}),
      })),
    };
  }
  return checkManifestValue(parsed.value, parsed.locate, {
    now: opts.now,
    bytes,
    signed: false,
    ...(opts.checker !== undefined ? { checker: opts.checker } : {}),
    ...(opts.review ? { review: true } : {}),
  });
}

export interface LoadFileOptions {
  readonly now: number;
  /** Keys that may sign the manifest, or the path of a key file (PEM, JWK or JWK Set); required
   * for a compact JWS file. */
  readonly trustKey?: TrustKey | string;
  /** Expected JWS audience (default "errand"). */
  readonly audience?: string;
  /** When set, a signed manifest's iss claim must equal it. */
  readonly issuer?: string;
  readonly checker?: ManifestChecker;
  /** See LoadTextOptions.review (unsigned sources only: a signed manifest's exp is always checked). */
  readonly review?: boolean;
}

const problemAt = (code: Problem['code'], message: string, fix?: string): LoadResult => ({
  ok: false,
  problems: [{ code, path: '', line: 1, column: 1, message, ...(fix !== undefined ? { fix } : {}) }],
});

/** Load a manifest file: YAML, JSON, or a compact JWS (verified with `trustKey`). */
export async function loadManifestFile(path: string, opts: LoadFileOptions): Promise<LoadResult> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    return problemAt('ERR_MANIFEST_READ', `cannot read the file (${reason})`);
  }
  // A signed manifest carries the payload base64url-encoded (4/3 larger) plus a header and signature.
  if (bytes.length > MAX_MANIFEST_BYTES * 2) {
    return problemAt(
      'ERR_MANIFEST_TOO_LARGE',
      `the file is ${bytes.length} bytes; the limit is ${MAX_MANIFEST_BYTES}`,
      'a manifest names one task: split unrelated work into separate tasks',
    );
  }
  let text: string;
  try {
    // Strict UTF-8: a byte sequence two decoders could read differently is refused (keep the BOM
    // so the hash below covers exactly the file's bytes).
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return problemAt('ERR_MANIFEST_SYNTAX', 'the file is not valid UTF-8', 'save the manifest as UTF-8');
  }
  if (isCompactJws(text)) {
    if (opts.trustKey === undefined) {
      return problemAt(
        'ERR_JWS_KEY',
        'this is a signed manifest (compact JWS): a trusted public key is needed to verify it',
        'pass the orchestrator public key with --trust-key',
      );
    }
    let trustKey: TrustKey;
    try {
      trustKey =
        typeof opts.trustKey === 'string' ? parseTrustKey(await readKeyFile(opts.trustKey)) : opts.trustKey;
    } catch (error) {
      if (error instanceof ErrandError) return problemAt(error.code, error.message);
      throw error;
    }
    return loadManifestJws(text.trim(), {
      trustKey,
      audience: opts.audience ?? DEFAULT_AUDIENCE,
      now: opts.now,
      ...(opts.issuer !== undefined ? { issuer: opts.issuer } : {}),
      ...(opts.checker !== undefined ? { checker: opts.checker } : {}),
    });
  }
  return loadSource(text, bytes, {
    now: opts.now,
    fileName: path,
    ...(opts.checker ? { checker: opts.checker } : {}),
    ...(opts.review ? { review: true } : {}),
  });
}

/** One line per problem: `file:line:col: CODE message (fix: …)`. */
export function formatProblems(fileName: string, problems: readonly Problem[]): string {
  return problems
    .map(
      (p) =>
        `${fileName}:${p.line}:${p.column}: ${p.code} ${p.path === '' ? '' : `${p.path}: `}${p.message}${p.fix !== undefined ? ` (fix: ${p.fix})` : ''}\n`,
    )
    .join('');
}
