import { parseArgs } from 'node:util';
import {
  explainManifest,
  formatExplainJson,
  formatExplainMarkdown,
  formatExplainText,
} from '../manifest/explain.ts';
import { describeActions } from '../manifest/lint-rules.ts';
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

const USAGE = `usage: errand manifest explain <file> [--format text|markdown|json] ${REVIEW_USAGE}
${AT_HELP}  exit 0 explained, 2 usage error or a file that does not load
`;

const FORMATS = ['text', 'markdown', 'json'] as const;

const parse = (argv: readonly string[]) => {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: { format: { type: 'string' }, ...REVIEW_OPTIONS },
  });
  if (positionals.length !== 1) throw new UsageError('expected exactly one manifest file');
  return { file: positionals[0]!, format: oneOf('format', values.format, FORMATS, 'text'), values };
};

// `errand manifest explain`: load, explain, print in the chosen form.
export const explainCommand: Command = (argv, io) =>
  withUsage('manifest explain', USAGE, io, async () => {
    const args = parse(argv);
    const loader = await createReviewLoader(io, args.values);
    const result = await loader.load(args.file);
    if (!result.ok) {
      io.stderr(formatProblems(args.file, result.problems));
      return 2;
    }
    const actions = await describeActions((result.loaded.manifest.aws?.grants ?? []).map((g) => g.action));
    const e = explainManifest(result.loaded, { now: loader.now, actions });
    io.stdout(
      args.format === 'markdown'
        ? formatExplainMarkdown(e)
        : args.format === 'json'
          ? formatExplainJson(e)
          : formatExplainText(e),
    );
    return 0;
  });
