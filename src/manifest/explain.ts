// What a manifest lets the agent do, for a reviewer who has seconds: who, until when, which exact
// operations on which objects and URLs, how often, which are writes, which secret goes where (by
// name, never a value), which hosts get an uninspected tunnel, and the STS session policies AWS
// will enforce. Pure: `now` and the IAM reference data come in as arguments.

import type { ActionCatalog, WriteKind } from './lint-rules.ts';
import { writeKindOfAction, writeKindOfMethod } from './lint-rules.ts';
import {
  compileSessionPolicies,
  IMPLIED_ACTIONS,
  isCredentialReturning,
  POLICY_SIZE_LIMIT,
  type PolicyDocument,
  type SessionKey,
} from './policy.ts';
import type { LoadedManifest, Uses } from './types.ts';

export type Kind = 'read' | WriteKind;

export interface AwsGrantExplained {
  readonly id: string;
  readonly kind: Kind;
  readonly action: string;
  /** IAM access levels of the action, empty when IAM does not know it. */
  readonly accessLevels: readonly string[];
  /** Actions the session policy adds for the same flow (multipart upload for s3:PutObject). */
  readonly alsoAllows: readonly string[];
  /** Errand refuses the action and no session policy allows it: its response carries credentials. */
  readonly refused: boolean;
  readonly resources: readonly string[];
  readonly broad: boolean;
  readonly s3Prefix?: string;
  readonly uses: Uses;
  readonly allowHeaders: readonly string[];
  readonly maxBodyBytes?: number;
}

export interface HttpGrantExplained {
  readonly id: string;
  readonly kind: Kind;
  readonly method: string;
  readonly url: string;
  readonly pattern: boolean;
  readonly uses: Uses;
  /** The header and the secret's NAME; the value never leaves the secrets directory. */
  readonly inject?: { readonly header: string; readonly secret: string };
  /** The OAuth credential: where and as whom the user's token is exchanged, for what; names only. */
  readonly oauth?: {
    readonly tokenEndpoint: string;
    readonly clientId: string;
    readonly subjectToken: string;
    readonly actorToken?: string;
    readonly resource: string;
    readonly audience?: string;
    readonly scope?: string;
    readonly authorizationDetailsTypes: readonly string[];
    readonly dpop: boolean;
  };
  readonly websocket: boolean;
  readonly plainHttp: boolean;
  readonly privateAddress: boolean;
  readonly maxBodyBytes?: number;
}

export interface Explanation {
  readonly task: {
    readonly id: string;
    readonly purpose: string;
    readonly user: { readonly subject: string; readonly session: string };
    readonly expiresAt: string;
    /** Milliseconds from `now` to the deadline; negative once expired. */
    readonly remainingMs: number;
    /** "for 42 minutes from now" or "expired 3 minutes ago". */
    readonly remaining: string;
    readonly sha256: string;
    readonly signed: boolean;
  };
  readonly aws?: {
    readonly region: string;
    readonly roleArn: string;
    readonly isolation: 'task' | 'grant';
    readonly grants: readonly AwsGrantExplained[];
  };
  readonly http?: {
    readonly grants: readonly HttpGrantExplained[];
    readonly passthrough: readonly { readonly host: string; readonly port: number }[];
  };
  readonly policies: readonly {
    readonly sessionKey: SessionKey;
    readonly grantIds: readonly string[];
    readonly size: number;
    readonly limit: number;
    readonly policy: PolicyDocument;
  }[];
}

const MINUTE = 60_000;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A span for people: "less than a minute", "42 minutes", "3 hours 5 minutes" (rounded down). */
export function formatDuration(ms: number): string {
  const minutes = Math.floor(Math.abs(ms) / MINUTE);
  if (minutes === 0) return 'less than a minute';
  if (minutes < 60) return plural(minutes, 'minute');
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? plural(hours, 'hour') : `${plural(hours, 'hour')} ${plural(rest, 'minute')}`;
}

const remainingOf = (ms: number): string =>
  ms > 0 ? `for ${formatDuration(ms)} from now` : `expired ${formatDuration(ms)} ago`;

export interface ExplainOptions {
  readonly now: number;
  readonly actions: ActionCatalog;
}

export function explainManifest(loaded: LoadedManifest, opts: ExplainOptions): Explanation {
  const m = loaded.manifest;
  const remainingMs = loaded.expiresAtMs - opts.now;
  return {
    task: {
      id: m.task.id,
      purpose: m.task.purpose,
      user: { subject: m.task.user.subject, session: m.task.user.session },
      expiresAt: m.task.expiresAt,
      remainingMs,
      remaining: remainingOf(remainingMs),
      sha256: loaded.sha256,
      signed: loaded.signed,
    },
    ...(m.aws === undefined
      ? {}
      : {
          aws: {
            region: m.aws.region,
            roleArn: m.aws.roleArn,
            isolation: m.aws.isolation,
            grants: m.aws.grants.map((g) => ({
              id: g.id,
              kind: writeKindOfAction(g.action, opts.actions) ?? 'read',
              action: g.action,
              accessLevels: opts.actions.get(g.action)?.accessLevels ?? [],
              alsoAllows: IMPLIED_ACTIONS[g.action] ?? [],
              refused: isCredentialReturning(g.action),
              resources: g.resources,
              broad: g.broad,
              ...(g.conditions.s3Prefix === undefined ? {} : { s3Prefix: g.conditions.s3Prefix }),
              uses: g.uses,
              allowHeaders: g.allowHeaders,
              ...(g.maxBodyBytes === undefined ? {} : { maxBodyBytes: g.maxBodyBytes }),
            })),
          },
        }),
    ...(m.http === undefined
      ? {}
      : {
          http: {
            grants: m.http.grants.map((g) => ({
              id: g.id,
              kind: writeKindOfMethod(g.method) ?? 'read',
              method: g.method,
              url: g.url,
              pattern: g.pattern,
              uses: g.uses,
              ...(g.inject === undefined
                ? {}
                : { inject: { header: g.inject.header, secret: g.inject.secret } }),
              ...(g.oauth === undefined
                ? {}
                : {
                    oauth: {
                      tokenEndpoint: g.oauth.tokenEndpoint,
                      clientId: g.oauth.clientId,
                      subjectToken: g.oauth.subjectToken,
                      ...(g.oauth.actorToken === undefined ? {} : { actorToken: g.oauth.actorToken }),
                      resource: g.oauth.resource,
                      ...(g.oauth.audience === undefined ? {} : { audience: g.oauth.audience }),
                      ...(g.oauth.scope === undefined ? {} : { scope: g.oauth.scope }),
                      authorizationDetailsTypes: (g.oauth.authorizationDetails ?? []).map((d) =>
                        String(d['type']),
                      ),
                      dpop: g.oauth.dpop,
                    },
                  }),
              websocket: g.websocket,
              plainHttp: g.url.startsWith('http://'),
              privateAddress: g.unsafeAllowPrivateAddress,
              ...(g.maxBodyBytes === undefined ? {} : { maxBodyBytes: g.maxBodyBytes }),
            })),
            passthrough: m.http.passthrough.map((p) => ({ host: p.host, port: p.port })),
          },
        }),
    policies: compileSessionPolicies(m).map((p) => ({
      sessionKey: p.sessionKey,
      grantIds: p.grantIds,
      size: p.size,
      limit: POLICY_SIZE_LIMIT,
      policy: p.policy,
    })),
  };
}

const usesText = (uses: Uses): string => (uses === 'unlimited' ? 'unlimited uses' : plural(uses, 'use'));
const kindText = (kind: Kind): string => (kind === 'read' ? 'read' : kind.toUpperCase());

const awsNotes = (g: AwsGrantExplained): string[] => [
  ...(g.refused ? ['REFUSED: its response carries credentials, so Errand never performs it'] : []),
  usesText(g.uses),
  ...(g.s3Prefix === undefined ? [] : [`only prefix "${g.s3Prefix}"`]),
  ...(g.broad ? ['BROAD: wildcard pattern'] : []),
  ...(g.alsoAllows.length > 0 ? [`with multipart upload (${g.alsoAllows.join(', ')})`] : []),
  ...(g.allowHeaders.length > 0 ? [`agent may send ${g.allowHeaders.join(', ')}`] : []),
  ...(g.maxBodyBytes === undefined ? [] : [`body at most ${g.maxBodyBytes} bytes`]),
];

const oauthNote = (o: NonNullable<HttpGrantExplained['oauth']>): string =>
  [
    `OAuth token for the user, exchanged at ${o.tokenEndpoint} as client ${o.clientId}`,
    ` (user token ${o.subjectToken}${o.actorToken === undefined ? '' : `, actor token ${o.actorToken}`})`,
    `, for ${o.resource}`,
    o.audience === undefined ? '' : `, audience ${o.audience}`,
    o.scope === undefined ? '' : `, scope "${o.scope}"`,
    o.authorizationDetailsTypes.length === 0 ? '' : `, details ${o.authorizationDetailsTypes.join(', ')}`,
    o.dpop ? ', DPoP-bound to a key only Errand holds' : ', BEARER (no DPoP)',
  ].join('');

const httpNotes = (g: HttpGrantExplained): string[] => [
  usesText(g.uses),
  ...(g.inject === undefined ? [] : [`injects secret ${g.inject.secret} into ${g.inject.header}`]),
  ...(g.oauth === undefined ? [] : [oauthNote(g.oauth)]),
  ...(g.pattern ? ['PATTERN: each * is any one path segment'] : []),
  ...(g.websocket ? ['WebSocket allowed'] : []),
  ...(g.plainHttp ? ['PLAIN HTTP'] : []),
  ...(g.privateAddress ? ['PRIVATE ADDRESSES allowed'] : []),
  ...(g.maxBodyBytes === undefined ? [] : [`body at most ${g.maxBodyBytes} bytes`]),
];

const isolationText = (isolation: 'task' | 'grant') =>
  isolation === 'task' ? 'one STS session for all grants' : 'one STS session per grant';

const policyTitle = (p: Explanation['policies'][number]) =>
  `${p.sessionKey === 'task' ? 'task' : p.sessionKey} (${p.grantIds.join(', ')}): ${p.size} of ${p.limit} characters${p.size > p.limit ? ', TOO LARGE' : ''}`;

/** Plain text for a terminal. */
export function formatExplainText(e: Explanation): string {
  const out: string[] = [];
  const t = e.task;
  out.push(`Task ${t.id}: ${t.purpose}`);
  out.push(`  user      ${t.user.subject} (session ${t.user.session})`);
  out.push(`  until     ${t.expiresAt} (${t.remaining})`);
  out.push(`  manifest  sha256 ${t.sha256}, ${t.signed ? 'signed' : 'UNSIGNED'}`);
  if (e.aws !== undefined) {
    out.push('', `AWS in ${e.aws.region} as ${e.aws.roleArn}, ${isolationText(e.aws.isolation)}`);
    if (e.aws.grants.length === 0) out.push('  (no grants)');
    const width = Math.max(0, ...e.aws.grants.map((g) => g.id.length));
    for (const g of e.aws.grants) {
      out.push(
        `  ${g.id.padEnd(width)}  ${kindText(g.kind).padEnd(11)}  ${g.action} on ${g.resources.join(', ')}`,
      );
      out.push(`  ${''.padEnd(width)}  ${''.padEnd(11)}  ${awsNotes(g).join('; ')}`);
    }
  }
  if (e.http !== undefined) {
    out.push('', 'HTTP');
    if (e.http.grants.length === 0) out.push('  (no grants)');
    const width = Math.max(0, ...e.http.grants.map((g) => g.id.length));
    for (const g of e.http.grants) {
      out.push(`  ${g.id.padEnd(width)}  ${kindText(g.kind).padEnd(11)}  ${g.method} ${g.url}`);
      out.push(`  ${''.padEnd(width)}  ${''.padEnd(11)}  ${httpNotes(g).join('; ')}`);
    }
    if (e.http.passthrough.length > 0) {
      out.push('', 'Passthrough (uninspected TLS tunnels, no use limit)');
      for (const p of e.http.passthrough) out.push(`  ${p.host}:${p.port}`);
    }
  }
  if (e.policies.length > 0) {
    out.push('', 'STS session policies (what AWS itself enforces)');
    for (const p of e.policies) {
      out.push(`  ${policyTitle(p)}`);
      for (const line of JSON.stringify(p.policy, null, 2).split('\n')) out.push(`    ${line}`);
    }
  }
  return `${out.join('\n')}\n`;
}

// Markdown table cells: escape the characters that would end a cell or open code.
const cell = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/`/g, '\\`');
const code = (s: string): string => `\`${s.replace(/`/g, "'")}\``;
// GFM tables split cells at `|` even inside code spans unless it is escaped.
const codeCell = (s: string): string => code(s).replace(/\|/g, '\\|');

/** Markdown for a pull request or a ticket. */
export function formatExplainMarkdown(e: Explanation): string {
  const out: string[] = [];
  const t = e.task;
  out.push(`# Task ${code(t.id)}`, '', cell(t.purpose), '');
  out.push('| | |', '|---|---|');
  out.push(`| user | ${codeCell(t.user.subject)} (session ${codeCell(t.user.session)}) |`);
  out.push(`| until | ${t.expiresAt} (${t.remaining}) |`);
  out.push(`| manifest | sha256 ${codeCell(t.sha256)}, ${t.signed ? 'signed' : '**unsigned**'} |`);
  if (e.aws !== undefined) {
    out.push(
      '',
      '## AWS',
      '',
      `Region ${code(e.aws.region)}, role ${code(e.aws.roleArn)}, ${isolationText(e.aws.isolation)}.`,
    );
    if (e.aws.grants.length === 0) out.push('', 'No grants.');
    else out.push('', '| grant | kind | action | resources | notes |', '|---|---|---|---|---|');
    for (const g of e.aws.grants) {
      const kind = g.kind === 'read' ? 'read' : `**${kindText(g.kind)}**`;
      out.push(
        `| ${codeCell(g.id)} | ${kind} | ${codeCell(g.action)} | ${g.resources.map(codeCell).join('<br>')} | ${cell(awsNotes(g).join('; '))} |`,
      );
    }
  }
  if (e.http !== undefined) {
    out.push('', '## HTTP', '');
    if (e.http.grants.length === 0) out.push('No grants.');
    else out.push('| grant | kind | request | notes |', '|---|---|---|---|');
    for (const g of e.http.grants) {
      const kind = g.kind === 'read' ? 'read' : `**${kindText(g.kind)}**`;
      out.push(
        `| ${codeCell(g.id)} | ${kind} | ${codeCell(`${g.method} ${g.url}`)} | ${cell(httpNotes(g).join('; '))} |`,
      );
    }
    if (e.http.passthrough.length > 0) {
      out.push('', '## Passthrough', '', 'Uninspected TLS tunnels, no use limit:', '');
      for (const p of e.http.passthrough) out.push(`- ${code(`${p.host}:${p.port}`)}`);
    }
  }
  if (e.policies.length > 0) {
    out.push('', '## STS session policies', '');
    for (const p of e.policies) {
      out.push(`### ${cell(policyTitle(p))}`, '', '```json', JSON.stringify(p.policy, null, 2), '```', '');
    }
    out.pop();
  }
  return `${out.join('\n')}\n`;
}

export function formatExplainJson(e: Explanation): string {
  return `${JSON.stringify(e, null, 2)}\n`;
}
