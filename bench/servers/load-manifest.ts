// Times one cold load of a manifest file (read, parse with positions, schema, checks), as `errand
// run` does at start, in a fresh process: the first load compiles the schema and the IAM catalogue.
//
//   node bench/servers/load-manifest.ts FILE [TRUST_KEY_FILE]
//
// With a trust key, FILE is the compact JWS `errand run` reads: verified, then its JSON payload checked.
// Prints {"ready":true,"ms":N,"ok":true|false} on stdout.

import { loadManifestFile } from '../../src/manifest/load.ts';

const [file, trustKey] = process.argv.slice(2);
if (!file) throw new Error('a manifest file is required');
const t0 = performance.now();
const result = await loadManifestFile(file, { now: Date.now(), ...(trustKey ? { trustKey } : {}) });
const ms = performance.now() - t0;
process.stdout.write(
  `${JSON.stringify({ ready: true, ms, ok: result.ok, problems: result.ok ? [] : result.problems.slice(0, 3) })}\n`,
);
