import { parseArgs } from 'node:util';
import { formatProblems } from '../manifest/load.ts';
import { compileSessionPolicies, POLICY_SIZE_LIMIT, sessionParameters } from '../manifest/policy.ts';
import type { Command } from './io.ts';
import {
  AT_HELP,
  createReviewLoader,
  REVIEW_OPTIONS,
  REVIEW_USAGE,
  UsageError,
  withUsage,
} from './manifest-lint.ts';

const USAGE = `usage: errand manifest policy <file> ${REVIEW_USAGE}
${AT_HELP}  exit 0 every session policy fits STS, 1 one does not (too large, or a session value STS refuses),
  2 usage error or a file that does not load
`;

const parse = (argv: readonly string[]) => {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: { ...REVIEW_OPTIONS },
  });
  if (positionals.length !== 1) throw new UsageError('expected exactly one manifest file');
  return { file: positionals[0]!, values };
};

// `errand manifest policy`: for each STS session, the AssumeRole parameters, the policy and its size.
export const policyCommand: Command = (argv, io) =>
  withUsage('manifest policy', USAGE, io, async () => {
    const args = parse(argv);
    const loader = await createReviewLoader(io, args.values);
    const result = await loader.load(args.file);
    if (!result.ok) {
      io.stderr(formatProblems(args.file, result.problems));
      return 2;
    }
    const policies = compileSessionPolicies(result.loaded.manifest);
    if (policies.length === 0) {
      io.stdout('no AWS grants: no STS session\n');
      return 0;
    }
    let code = 0;
    const out: string[] = [];
    for (const p of policies) {
      const fits = p.size <= POLICY_SIZE_LIMIT;
      out.push(
        `session ${p.sessionKey} (${p.grantIds.join(', ')}): ${p.size} of ${POLICY_SIZE_LIMIT} characters minified${fits ? '' : ', TOO LARGE for STS'}`,
      );
      const r = sessionParameters(result.loaded, p);
      if (r.ok) {
        const { RoleArn, RoleSessionName, DurationSeconds, SourceIdentity, Tags } = r.parameters;
        out.push(
          `AssumeRole ${RoleArn} as ${RoleSessionName} for ${DurationSeconds} s, SourceIdentity ${SourceIdentity}`,
          `tags ${Tags.map((t) => `${t.Key}=${t.Value}`).join(' ')}`,
        );
      } else {
        code = 1;
        for (const problem of r.problems)
          out.push(`refused: ${problem.code} ${problem.path}: ${problem.message}`);
      }
      out.push(JSON.stringify(p.policy, null, 2), '');
    }
    io.stdout(out.join('\n'));
    return code;
  });
