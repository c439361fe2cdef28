// Fills a Node compile cache (V8 code cache) for the bundle, so a start reads compiled code instead
// of parsing the chunks again: node scripts/warm-compile-cache.mjs <dist dir> <cache dir>.
//
// Run it with the very Node binary that will run Errand (the cache is refused by any other Node
// version or V8 flags), then run Errand with NODE_COMPILE_CACHE=<cache dir> on a read-only copy:
// a code cache is executable, so nobody but the image may be able to write it
// (https://nodejs.org/api/module.html#module-compile-cache). Importing the chunks evaluates their
// module bodies only: nothing listens, reads a manifest or calls AWS.

import { readdirSync } from 'node:fs';
import { constants, enableCompileCache, flushCompileCache } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [distArg, cacheArg] = process.argv.slice(2);
if (distArg === undefined || cacheArg === undefined) {
  process.stderr.write('usage: node scripts/warm-compile-cache.mjs <dist dir> <cache dir>\n');
  process.exit(2);
}
const dist = resolve(distArg);
const enabled = enableCompileCache(resolve(cacheArg));
const { FAILED, DISABLED } = constants.compileCacheStatus;
if (enabled.status === FAILED || enabled.status === DISABLED) {
  process.stderr.write(
    `warm-compile-cache: not enabled: ${enabled.message ?? 'NODE_DISABLE_COMPILE_CACHE is set'}\n`,
  );
  process.exit(1);
}
const chunks = readdirSync(join(dist, 'chunks'))
  .filter((f) => f.endsWith('.mjs'))
  .sort();
for (const chunk of chunks) await import(pathToFileURL(join(dist, 'chunks', chunk)).href);
flushCompileCache();
process.stdout.write(`${enabled.directory}: ${chunks.length} chunks\n`);
