import { parseArgs } from 'node:util';
import { diffExitCode, diffManifests, formatDiffJson, formatDiffText } from '../manifest/diff.ts';
import { formatProblems } from '../manifest/load.ts';
import type { Command } from './io.ts';
import {
  AT_HELP,
  createReviewLoader,
  oneOf,
  REVIEW_OPTIONS,
  REVIEW_USAGE,
  UsageError,
  withUsage,
} from './manifest-lint.ts';

const USAGE = `usage: errand manifest diff <old> <new> [--format text|json] ${REVIEW_USAGE}
${AT_HELP}  exit 0 the new manifest grants nothing the old did not, 1 it grants more,
  2 usage error or a file that does not load
`;

const FORMATS = ['text', 'json'] as const;

const parse = (argv: readonly string[]) => {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: { format: { type: 'string' }, ...REVIEW_OPTIONS },
  });
  if (positionals.length !== 2)
    throw new UsageError('expected two manifest files: the old one, then the new one');
  return {
    old: positionals[0]!,
    next: positionals[1]!,
    format: oneOf('format', values.format, FORMATS, 'text'),
    values,
  };
};

// `errand manifest diff`: load both, print what the new one grants beyond the old.
export const diffCommand: Command = (argv, io) =>
  withUsage('manifest diff', USAGE, io, async () => {
    const args = parse(argv);
    const loader = await createReviewLoader(io, args.values);
    const old = await loader.load(args.old);
    const next = await loader.load(args.next);
    if (!old.ok || !next.ok) {
      if (!old.ok) io.stderr(formatProblems(args.old, old.problems));
      if (!next.ok) io.stderr(formatProblems(args.next, next.problems));
      return 2;
    }
    const changes = diffManifests(old.loaded.manifest, next.loaded.manifest);
    io.stdout(args.format === 'json' ? formatDiffJson(changes) : formatDiffText(changes));
    return diffExitCode(changes);
  });
