import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import packageJson from '../../package.json' with { type: 'json' };
import { ErrandError } from '../errors.ts';
import { parseInstant } from '../manifest/instant.ts';
import { parseTrustKey, readKeyFile, type TrustKey } from '../manifest/keys.ts';
import {
  type FileResult,
  findingsFromProblems,
  formatLintJson,
  formatLintText,
  lintExitCode,
  lintManifest,
} from '../manifest/lint.ts';
import { DEFAULT_FAIL_LEVEL, describeActions, FAIL_LEVELS, type FailLevel } from '../manifest/lint-rules.ts';
import {
  createManifestChecker,
  type LoadResult,
  loadManifestFile,
  type ManifestChecker,
} from '../manifest/load.ts';
import { formatSarif } from '../manifest/sarif.ts';
import type { CliIo, Command } from './io.ts';

/** How the review commands' usage names their shared options, and what --at means. */
export const REVIEW_USAGE = '[--trust-key <file>] [--audience <aud>] [--at <time>]';
export const AT_HELP = '  --at <time>  judge deadlines and signatures at this RFC 3339 time instead of now\n';

const USAGE = `usage: errand manifest lint <files…> [--format text|json|sarif] [--fail-level error|security|warning|suggestion]
                            ${REVIEW_USAGE}
${AT_HELP}  exit 0 nothing at or above the fail level (default ${DEFAULT_FAIL_LEVEL}), 1 findings at or above it,
  2 usage error or a file that does not load
`;

const FORMATS = ['text', 'json', 'sarif'] as const;

/** A command line the command cannot act on. */
export class UsageError extends Error {}

/** Options every review command shares: a signed manifest needs the key that signed it, and a
 *  manifest can be judged at another time than now (`--at`, for a task that starts later). */
export const REVIEW_OPTIONS = {
  'trust-key': { type: 'string' },
  audience: { type: 'string' },
  at: { type: 'string' },
} as const;

export interface ReviewLoader {
  readonly now: number;
  load(file: string): Promise<LoadResult>;
}

/** Loads manifest files for review at one `now`, with one compiled schema, verifying signed ones
 *  with the trust key when given. Throws ErrandError when the key cannot be read. */
export async function createReviewLoader(
  io: CliIo,
  values: {
    readonly 'trust-key'?: string | undefined;
    readonly audience?: string | undefined;
    readonly at?: string | undefined;
  },
): Promise<ReviewLoader> {
  const now = values.at === undefined ? Date.now() : parseInstant(values.at);
  if (now === undefined) {
    throw new UsageError(
      `--at must be an RFC 3339 date and time with its offset, like 2026-12-01T09:00:00Z, not '${values.at}'`,
    );
  }
  const checker: ManifestChecker = createManifestChecker();
  const keyFile = values['trust-key'];
  const trustKey: TrustKey | undefined =
    keyFile === undefined ? undefined : parseTrustKey(await readKeyFile(resolve(io.cwd, keyFile)));
  return {
    now,
    load: (file) =>
      loadManifestFile(resolve(io.cwd, file), {
        now,
        checker,
        review: true,
        ...(trustKey === undefined ? {} : { trustKey }),
        ...(values.audience === undefined ? {} : { audience: values.audience }),
      }),
  };
}

/** Picks one of `allowed` or throws a usage error naming them. */
export const oneOf = <T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T => {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, not '${value}'`);
};

const parse = (argv: readonly string[]) => {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: { format: { type: 'string' }, 'fail-level': { type: 'string' }, ...REVIEW_OPTIONS },
  });
  if (positionals.length === 0) throw new UsageError('expected at least one manifest file');
  return {
    files: positionals,
    format: oneOf('format', values.format, FORMATS, 'text'),
    failLevel: oneOf<FailLevel>('fail-level', values['fail-level'], FAIL_LEVELS, DEFAULT_FAIL_LEVEL),
    values,
  };
};

/** Usage problems print the usage and exit 2; an unreadable trust key exits 2 with its code. */
export async function withUsage(
  name: string,
  usage: string,
  io: CliIo,
  run: () => Promise<number>,
): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ErrandError) {
      io.stderr(`errand ${name}: ${error.code}: ${error.message}\n`);
      return 2;
    }
    const parseArgsError =
      error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS');
    if (error instanceof UsageError || parseArgsError) {
      io.stderr(`errand ${name}: ${(error as Error).message}\n${usage}`);
      return 2;
    }
    throw error;
  }
}

// `errand manifest lint`: load each file, lint what loads, report everything in one format.
export const lintCommand: Command = (argv, io) =>
  withUsage('manifest lint', USAGE, io, async () => {
    const args = parse(argv);
    const loader = await createReviewLoader(io, args.values);
    const results: FileResult[] = [];
    for (const file of args.files) {
      const result = await loader.load(file);
      if (!result.ok) {
        results.push({ file, loaded: false, findings: findingsFromProblems(result.problems) });
        continue;
      }
      const m = result.loaded.manifest;
      const actions = await describeActions((m.aws?.grants ?? []).map((g) => g.action));
      results.push({
        file,
        loaded: true,
        findings: lintManifest(result.loaded, { now: loader.now, actions, locate: result.locate }),
      });
    }
    const output =
      args.format === 'sarif'
        ? formatSarif(results, { toolVersion: packageJson.version })
        : args.format === 'json'
          ? formatLintJson(results, args.failLevel)
          : formatLintText(results, args.failLevel);
    io.stdout(output);
    return lintExitCode(results, args.failLevel);
  });
