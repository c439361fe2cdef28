import { MAX_MANIFEST_TTL_MS } from './check.ts';
// Risk review of a loaded manifest: each finding names a stable rule, a severity, the JSON pointer
// into the manifest source and, when a locator is given, the line and column. Pure: the clock and
// the IAM reference data come in as arguments.

import type { ErrorCode } from '../errors.ts';
import { formatDuration } from './explain.ts';
import {
  type ActionCatalog,
  atOrAbove,
  type FailLevel,
  isCredentialReturning,
  type LintRule,
  RULES,
  type Severity,
  severityName,
  severityRank,
  writeKindOfAction,
  writeKindOfMethod,
} from './lint-rules.ts';
import { checkPolicySizes, compileSessionPolicies, type PolicyProblem, sessionParameters } from './policy.ts';
import type { AwsGrant, HttpGrant, LoadedManifest } from './types.ts';

/** A manifest valid for longer than this from now is worth a reviewer's look. */
export const LONG_LIVED_MS = 60 * 60 * 1000;

export interface Position {
  readonly line: number;
  readonly column: number;
}

export type Locate = (path: string) => Position | undefined;

export interface Finding {
  readonly ruleId: string;
  readonly rule: string;
  readonly severity: Severity;
  readonly message: string;
  /** JSON pointer into the manifest source, e.g. /aws/grants/0/action. */
  readonly path: string;
  readonly line?: number;
  readonly column?: number;
}

/** The loader's problem shape (src/manifest/load.ts). */
export interface LoadProblem {
  readonly code: ErrorCode;
  readonly path: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  readonly fix?: string;
}

export interface LintOptions {
  readonly now: number;
  readonly actions: ActionCatalog;
  readonly locate?: Locate;
}

const finding = (r: LintRule, path: string, message: string): Finding => ({
  ruleId: r.id,
  rule: r.name,
  severity: r.severity,
  message,
  path,
});

const MAX_LISTED = 3;
/** A short list for a message: the first few and how many more. */
export const listOf = (values: readonly string[]): string =>
  values.length <= MAX_LISTED
    ? values.join(', ')
    : `${values.slice(0, MAX_LISTED).join(', ')} and ${values.length - MAX_LISTED} more`;

interface Arn {
  readonly partition: string;
  readonly service: string;
  readonly region: string;
  readonly account: string;
  readonly resource: string;
}

// arn:partition:service:region:account-id:resource (IAM User Guide, "IAM identifiers"); the
// resource part may itself contain colons.
export const parseArn = (arn: string): Arn | undefined => {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  return {
    partition: parts[1]!,
    service: parts[2]!,
    region: parts[3]!,
    account: parts[4]!,
    resource: parts.slice(5).join(':'),
  };
};

const WILDCARD = /[*?]/;

/** Why a resource pattern reaches past any one owner's resources, or undefined when it does not. */
export const unboundedReason = (pattern: string): string | undefined => {
  if (pattern === '*') return 'it matches every resource';
  const arn = parseArn(pattern);
  if (arn === undefined) return 'it is not an ARN, so it may match anything';
  if (WILDCARD.test(arn.partition) || WILDCARD.test(arn.service))
    return 'the partition or service is a wildcard';
  if (WILDCARD.test(arn.account)) return 'the account is a wildcard';
  const [first = '', ...rest] = arn.resource.split(/[/:]/);
  if (arn.service === 's3' && WILDCARD.test(first)) return 'the bucket name is a wildcard';
  if (WILDCARD.test(first)) return 'the resource type is a wildcard';
  if (arn.service !== 's3' && rest.length === 1 && rest[0] === '*') return `it matches every ${first}`;
  return undefined;
};

const resourcePath = (g: AwsGrant, i: number) => `/aws/grants/${i}/${g.broad ? 'broadResource' : 'resource'}`;

const lintAwsGrant = (
  g: AwsGrant,
  i: number,
  roleArn: string,
  region: string,
  actions: ActionCatalog,
): Finding[] => {
  const out: Finding[] = [];
  const base = `/aws/grants/${i}`;
  const on = listOf(g.resources);
  if (isCredentialReturning(g.action)) {
    out.push(
      finding(
        RULES.credentialReturningAction,
        `${base}/action`,
        `grant '${g.id}' names ${g.action}, whose response carries credentials; Errand refuses it at request time`,
      ),
    );
  }
  const kind = writeKindOfAction(g.action, actions);
  const levels = (actions.get(g.action)?.accessLevels ?? []).join(', ');
  const kindRule =
    kind === 'permissions'
      ? RULES.permissionsManagementAction
      : kind === 'tagging'
        ? RULES.taggingAction
        : kind === 'delete'
          ? RULES.deleteAction
          : kind === 'write'
            ? RULES.writeAction
            : undefined;
  if (kindRule !== undefined) {
    const level = levels === '' ? '' : ` (IAM access level ${levels})`;
    out.push(finding(kindRule, `${base}/action`, `grant '${g.id}' allows ${g.action}${level} on ${on}`));
  }
  if (kind === 'write' && g.maxBodyBytes === undefined) {
    out.push(
      finding(
        RULES.unboundedWriteBody,
        base,
        `grant '${g.id}' sets no maxBodyBytes for ${g.action} on ${on}`,
      ),
    );
  }
  if (g.broad) {
    for (const r of g.resources) {
      const why = unboundedReason(r);
      out.push(
        why === undefined
          ? finding(
              RULES.broadResource,
              resourcePath(g, i),
              `grant '${g.id}' covers every ARN matching '${r}'`,
            )
          : finding(
              RULES.unboundedResource,
              resourcePath(g, i),
              `grant '${g.id}' resource pattern '${r}' is unbounded: ${why}`,
            ),
      );
    }
  }
  const roleAccount = parseArn(roleArn)?.account ?? '';
  for (const r of g.resources) {
    const arn = parseArn(r);
    if (arn === undefined) continue;
    if (
      arn.account !== '' &&
      !WILDCARD.test(arn.account) &&
      roleAccount !== '' &&
      arn.account !== roleAccount
    ) {
      out.push(
        finding(
          RULES.crossAccountResource,
          resourcePath(g, i),
          `grant '${g.id}' resource ${r} is in account ${arn.account}; the role is in account ${roleAccount}`,
        ),
      );
    }
    if (arn.region !== '' && !WILDCARD.test(arn.region) && arn.region !== region) {
      out.push(
        finding(
          RULES.regionMismatch,
          resourcePath(g, i),
          `grant '${g.id}' resource ${r} is in region ${arn.region}; aws.region is ${region}`,
        ),
      );
    }
  }
  if (g.uses === 'unlimited') {
    out.push(
      finding(
        RULES.unlimitedUses,
        `${base}/uses`,
        `grant '${g.id}' may be used any number of times until the deadline`,
      ),
    );
  }
  return out;
};

const lintHttpGrant = (g: HttpGrant, i: number): Finding[] => {
  const out: Finding[] = [];
  const base = `/http/grants/${i}`;
  const urlPath = `${base}/${g.pattern ? 'urlPattern' : 'url'}`;
  const target = `${g.method} ${g.url}`;
  const plain = g.url.startsWith('http://');
  if (plain && g.inject !== undefined) {
    out.push(
      finding(
        RULES.secretOverPlainHttp,
        `${base}/inject`,
        `grant '${g.id}' injects secret '${g.inject.secret}' into ${g.inject.header} of ${target}, which is plain http`,
      ),
    );
  }
  if (plain && g.oauth !== undefined) {
    out.push(
      finding(
        RULES.secretOverPlainHttp,
        `${base}/inject/oauth`,
        `grant '${g.id}' sends an OAuth access token${g.oauth.dpop ? ' and DPoP proofs' : ''} with ${target}, which is plain http`,
      ),
    );
  }
  if (plain) {
    out.push(finding(RULES.plainHttpUrl, urlPath, `grant '${g.id}' allows ${target} over plain http`));
  }
  if (g.inject !== undefined) {
    out.push(
      finding(
        RULES.bearerCredential,
        `${base}/inject`,
        `grant '${g.id}' injects static secret '${g.inject.secret}' into ${g.inject.header}: it is not bound to this task or user, and works for whoever holds it`,
      ),
    );
  } else if (g.oauth !== undefined && !g.oauth.dpop) {
    out.push(
      finding(
        RULES.bearerCredential,
        `${base}/inject/oauth/dpop`,
        `grant '${g.id}' obtains an OAuth token for the user without DPoP: it is scoped to the grant but works for whoever holds it until it expires`,
      ),
    );
  }
  if (g.unsafeAllowPrivateAddress) {
    out.push(
      finding(
        RULES.privateAddressAllowed,
        `${base}/unsafeAllowPrivateAddress`,
        `grant '${g.id}' may reach private, loopback and link-local addresses for ${g.url}`,
      ),
    );
  }
  const kind = writeKindOfMethod(g.method);
  if (kind !== undefined) {
    out.push(
      finding(
        kind === 'delete' ? RULES.deleteAction : RULES.writeAction,
        `${base}/method`,
        `grant '${g.id}' allows ${target}`,
      ),
    );
  }
  if (kind === 'write' && g.maxBodyBytes === undefined) {
    out.push(finding(RULES.unboundedWriteBody, base, `grant '${g.id}' sets no maxBodyBytes for ${target}`));
  }
  if (g.pattern) {
    out.push(
      finding(
        RULES.urlPattern,
        urlPath,
        `grant '${g.id}' matches ${target} where each * is any one path segment`,
      ),
    );
  }
  if (g.websocket) {
    out.push(finding(RULES.websocket, `${base}/websocket`, `grant '${g.id}' allows a WebSocket to ${g.url}`));
  }
  if (g.uses === 'unlimited') {
    out.push(
      finding(
        RULES.unlimitedUses,
        `${base}/uses`,
        `grant '${g.id}' may be used any number of times until the deadline`,
      ),
    );
  }
  return out;
};

const fromPolicyProblem = (p: PolicyProblem): Finding =>
  finding(
    p.code === 'ERR_MANIFEST_POLICY_TOO_LARGE' ? RULES.policyTooLarge : RULES.stsParameterInvalid,
    p.path,
    p.message,
  );

// STS session parameters are the same for every session but the session name: report each
// distinct problem once.
const stsFindings = (loaded: LoadedManifest): Finding[] => {
  const seen = new Set<string>();
  const out: Finding[] = [];
  for (const policy of compileSessionPolicies(loaded.manifest)) {
    const r = sessionParameters(loaded, policy);
    if (r.ok) continue;
    for (const p of r.problems) {
      if (p.code === 'ERR_MANIFEST_POLICY_TOO_LARGE') continue; // reported by checkPolicySizes
      const key = `${p.path}\n${p.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(fromPolicyProblem(p));
    }
  }
  return out;
};

// Numeric-aware pointer order, so /aws/grants/2 sorts before /aws/grants/10.
const comparePaths = (a: string, b: string): number => {
  const as = a.split('/');
  const bs = b.split('/');
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const x = as[i]!;
    const y = bs[i]!;
    if (x === y) continue;
    const nx = Number(x);
    const ny = Number(y);
    if (Number.isInteger(nx) && Number.isInteger(ny) && x !== '' && y !== '') return nx - ny;
    return x < y ? -1 : 1;
  }
  return as.length - bs.length;
};

/** Document order when located, else pointer order; then severity, rule and message. */
export const compareFindings = (a: Finding, b: Finding): number =>
  (a.line ?? 0) - (b.line ?? 0) ||
  (a.column ?? 0) - (b.column ?? 0) ||
  comparePaths(a.path, b.path) ||
  severityRank(a.severity) - severityRank(b.severity) ||
  (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0) ||
  (a.message < b.message ? -1 : a.message > b.message ? 1 : 0);

// The nearest located ancestor: a default value (no `uses:` written) has no position of its own.
const locateNearest = (locate: Locate, path: string): Position | undefined => {
  for (let p = path; ; p = p.slice(0, p.lastIndexOf('/'))) {
    const pos = locate(p);
    if (pos !== undefined && pos.line > 0) return pos;
    if (p === '') return undefined;
  }
};

export const locateFindings = (findings: readonly Finding[], locate: Locate | undefined): Finding[] =>
  findings
    .map((f) => {
      const pos = locate === undefined ? undefined : locateNearest(locate, f.path);
      return pos === undefined ? f : { ...f, line: pos.line, column: pos.column };
    })
    .sort(compareFindings);

/** Every finding for a manifest that loaded. */
export function lintManifest(loaded: LoadedManifest, opts: LintOptions): Finding[] {
  const m = loaded.manifest;
  const out: Finding[] = [];
  const ttl = loaded.expiresAtMs - opts.now;
  if (ttl <= 0) {
    out.push(
      finding(
        RULES.expired,
        '/task/expiresAt',
        `the manifest expired at ${m.task.expiresAt}, ${formatDuration(-ttl)} ago`,
      ),
    );
  } else if (ttl > MAX_MANIFEST_TTL_MS) {
    out.push(
      finding(
        RULES.tooLongLived,
        '/task/expiresAt',
        `the manifest is valid for ${formatDuration(ttl)} from now (until ${m.task.expiresAt}); Errand runs at most 12 hours`,
      ),
    );
  } else if (ttl > LONG_LIVED_MS) {
    out.push(
      finding(
        RULES.longLived,
        '/task/expiresAt',
        `the manifest is valid for ${formatDuration(ttl)} from now (until ${m.task.expiresAt}); more than 1 hour`,
      ),
    );
  }
  if (m.aws !== undefined) {
    const { roleArn, region } = m.aws;
    m.aws.grants.forEach((g, i) => {
      out.push(...lintAwsGrant(g, i, roleArn, region, opts.actions));
    });
    out.push(...checkPolicySizes(m).map(fromPolicyProblem));
  }
  out.push(...stsFindings(loaded));
  if (m.http !== undefined) {
    m.http.grants.forEach((g, i) => {
      out.push(...lintHttpGrant(g, i));
    });
    m.http.passthrough.forEach((p, i) => {
      out.push(
        finding(
          RULES.passthroughHost,
          `/http/passthrough/${i}`,
          `passthrough to ${p.host}:${p.port}: an uninspected TLS tunnel without use limits`,
        ),
      );
    });
  }
  return locateFindings(out, opts.locate);
}

/** Loader problems as findings of rule ERRAND000 (always ERROR): the file cannot be used. */
export function findingsFromProblems(problems: readonly LoadProblem[]): Finding[] {
  return problems
    .map((p) => ({
      ...finding(
        RULES.manifestInvalid,
        p.path,
        `${p.code} ${p.message}${p.fix === undefined ? '' : ` (fix: ${p.fix})`}`,
      ),
      ...(p.line > 0 ? { line: p.line, column: p.column } : {}),
    }))
    .sort(compareFindings);
}

/** One linted file. */
export interface FileResult {
  readonly file: string;
  /** False when the file did not load (unreadable, invalid): its findings are the load problems. */
  readonly loaded: boolean;
  readonly findings: readonly Finding[];
}

/** 2 if any file did not load, 1 if any finding is at or above the fail level, else 0. */
export function lintExitCode(results: readonly FileResult[], failLevel: FailLevel): number {
  if (results.some((r) => !r.loaded)) return 2;
  return results.some((r) => r.findings.some((f) => atOrAbove(f.severity, failLevel))) ? 1 : 0;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** One line per finding (`file:line:column: severity RULE name: message`), then a summary. */
export function formatLintText(results: readonly FileResult[], failLevel: FailLevel): string {
  const lines: string[] = [];
  const counts: Record<Severity, number> = { ERROR: 0, SECURITY_WARNING: 0, WARNING: 0, SUGGESTION: 0 };
  for (const r of results) {
    if (r.findings.length === 0) lines.push(`${r.file}: no findings`);
    for (const f of r.findings) {
      counts[f.severity]++;
      const where = f.line === undefined ? r.file : `${r.file}:${f.line}:${f.column}`;
      lines.push(`${where}: ${severityName(f.severity)} ${f.ruleId} ${f.rule}: ${f.message}`);
    }
  }
  const total = results.reduce((n, r) => n + r.findings.length, 0);
  const code = lintExitCode(results, failLevel);
  const verdict = code === 2 ? 'not loaded' : code === 1 ? 'failed' : 'passed';
  lines.push(
    `${plural(results.length, 'file')}, ${plural(total, 'finding')} (${counts.ERROR} error, ${counts.SECURITY_WARNING} security, ${counts.WARNING} warning, ${counts.SUGGESTION} suggestion); fail level ${failLevel}: ${verdict}`,
  );
  return `${lines.join('\n')}\n`;
}

/** Machine-readable form: every finding with its file, plus the verdict. */
export function formatLintJson(results: readonly FileResult[], failLevel: FailLevel): string {
  const findings = results.flatMap((r) => r.findings.map((f) => ({ file: r.file, ...f })));
  const body = {
    failLevel,
    exitCode: lintExitCode(results, failLevel),
    files: results.map((r) => ({ file: r.file, loaded: r.loaded, findings: r.findings.length })),
    findings,
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}
