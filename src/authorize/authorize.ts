import type { AwsIntent, AwsNeed, HttpIntent } from '../classify/types.ts';
import { IMPLIED_ACTIONS } from '../manifest/policy.ts';
import type { AwsGrant, HttpGrant, Manifest } from '../manifest/types.ts';
import type { Decision } from './types.ts';
import type { UseLedger } from './use-ledger.ts';

// Intent × grants × use counters × deadline → Decision. Pure but for the ledger's take, which is
// synchronous, so a decision and its use are one step no other request can interleave with.

const MAX_LISTED = 3;

/** IAM authorizes several operations under one action; a grant of that action covers only these
 *  (SECURITY-CASES E1: S3 Select is authorized as s3:GetObject but runs a query, not a read). The
 *  operations of a multipart upload ride on the PutObject grant that started it. */
const COVERED_OPERATIONS: Readonly<Record<string, readonly string[]>> = {
  's3:GetObject': ['GetObject', 'HeadObject'],
  's3:PutObject': [
    'PutObject',
    'CopyObject',
    'CreateMultipartUpload',
    'UploadPart',
    'CompleteMultipartUpload',
    'AbortMultipartUpload',
    'ListParts',
  ],
};

/** Operations that read metadata only: allowed while the grant has a use left, without taking one
 *  (the AWS CLI sends HeadObject before every `aws s3 cp` download). */
const METADATA_ONLY = new Set(['HeadObject']);

/** IAM-style ARN pattern: `*` any run of characters (including '/'), `?` one character. */
const isPattern = (resource: string): boolean => resource.includes('*') || resource.includes('?');

export function arnMatches(pattern: string, arn: string): boolean {
  if (!isPattern(pattern)) return pattern === arn;
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.')}$`,
    's',
  );
  return re.test(arn);
}

const deny = (reason: Decision['reason'], message: string): Decision => ({
  allow: false,
  reason,
  grantIds: [],
  message,
});

export interface GrantIndex {
  readonly aws: ReadonlyMap<string, readonly AwsGrant[]>;
  readonly http: ReadonlyMap<string, readonly HttpGrant[]>;
  readonly byId: ReadonlyMap<string, AwsGrant | HttpGrant>;
  /** IAM action → exact resource ARN → the grants naming it: a decision looks an ARN up instead of
   *  scanning every grant of the action (a manifest may name thousands of objects). */
  readonly awsExact: ReadonlyMap<string, ReadonlyMap<string, readonly AwsGrant[]>>;
  /** The common case of awsExact, for a decision that touches as little memory as it can: an ARN
   *  named by exactly one grant of the action, a grant without conditions. */
  readonly awsExactOnly: ReadonlyMap<string, ReadonlyMap<string, AwsGrant>>;
  /** IAM action → the grants with at least one wildcard resource, tested one by one. */
  readonly awsPatterns: ReadonlyMap<string, readonly AwsGrant[]>;
  /** Each AWS grant's position in the manifest: matches are always returned in manifest order. */
  readonly awsOrder: ReadonlyMap<AwsGrant, number>;
}

/** Grants indexed by IAM action and by HTTP method, in manifest order (never hash order). */
export function indexGrants(m: Manifest): GrantIndex {
  const aws = new Map<string, AwsGrant[]>();
  const http = new Map<string, HttpGrant[]>();
  const byId = new Map<string, AwsGrant | HttpGrant>();
  const awsExact = new Map<string, Map<string, AwsGrant[]>>();
  const awsPatterns = new Map<string, AwsGrant[]>();
  const awsOrder = new Map<AwsGrant, number>();
  for (const [position, g] of (m.aws?.grants ?? []).entries()) {
    const ofAction = aws.get(g.action);
    if (ofAction) ofAction.push(g);
    else aws.set(g.action, [g]);
    byId.set(g.id, g);
    awsOrder.set(g, position);
    const exact = awsExact.get(g.action) ?? new Map<string, AwsGrant[]>();
    awsExact.set(g.action, exact);
    for (const r of new Set(g.resources)) {
      if (isPattern(r)) {
        const patterns = awsPatterns.get(g.action) ?? [];
        if (!patterns.includes(g)) patterns.push(g);
        awsPatterns.set(g.action, patterns);
      } else {
        exact.set(r, [...(exact.get(r) ?? []), g]);
      }
    }
  }
  for (const g of m.http?.grants ?? []) {
    http.set(g.method, [...(http.get(g.method) ?? []), g]);
    byId.set(g.id, g);
  }
  const awsExactOnly = new Map<string, Map<string, AwsGrant>>();
  for (const [action, byArn] of awsExact) {
    const only = new Map<string, AwsGrant>();
    for (const [arn, grants] of byArn)
      if (grants.length === 1 && grants[0]!.conditions.s3Prefix === undefined) only.set(arn, grants[0]!);
    awsExactOnly.set(action, only);
  }
  return { aws, http, byId, awsExact, awsExactOnly, awsPatterns, awsOrder };
}

const conditionsHold = (g: AwsGrant, need: AwsNeed): boolean =>
  g.conditions.s3Prefix === undefined || g.conditions.s3Prefix === need.s3Prefix;

const grantCovers = (g: AwsGrant, need: AwsNeed): boolean =>
  g.resources.some((r) => arnMatches(r, need.resource)) && conditionsHold(g, need);

/** The grants of the need's own action that cover it, in manifest order: the same set and order as
 *  testing every grant of the action with grantCovers, without the scan. */
function coveringOf(index: GrantIndex, need: AwsNeed): AwsGrant[] {
  const patterns = index.awsPatterns.get(need.action) ?? NO_GRANTS;
  // The one grant naming this ARN, without conditions, and no pattern to weigh against it.
  if (patterns.length === 0) {
    const only = index.awsExactOnly.get(need.action)?.get(need.resource);
    if (only !== undefined) return [only];
  }
  const exact = index.awsExact.get(need.action)?.get(need.resource) ?? NO_GRANTS;
  // One candidate (the usual exact grant): its answer, without a Set, a copy and a sort. A grant
  // found under the need's own ARN names that ARN: only its conditions are left to check (not its
  // resource list again, which with thousands of grants is a cache miss per decision).
  if (exact.length + patterns.length <= 1) {
    if (exact.length === 1) return conditionsHold(exact[0]!, need) ? [exact[0]!] : [];
    const only = patterns[0];
    return only !== undefined && grantCovers(only, need) ? [only] : [];
  }
  const found = new Set<AwsGrant>();
  for (const g of exact) if (grantCovers(g, need)) found.add(g);
  for (const g of patterns) if (grantCovers(g, need)) found.add(g);
  const order = (g: AwsGrant) => index.awsOrder.get(g) ?? 0;
  return [...found].sort((a, b) => order(a) - order(b));
}

const NO_GRANTS: readonly AwsGrant[] = Object.freeze([]);
const NO_IDS: readonly string[] = Object.freeze([]);

/** The ids of the grants whose uses are counted (most are unlimited: no array then). */
function countedOf(grants: readonly AwsGrant[]): readonly string[] {
  for (const g of grants)
    if (g.uses !== 'unlimited') return grants.filter((c) => c.uses !== 'unlimited').map((c) => c.id);
  return NO_IDS;
}

const describeNeed = (need: AwsNeed): string =>
  `${need.action} on ${need.resource}${need.s3Prefix !== undefined ? ` with prefix "${need.s3Prefix}"` : ''}`;

const describeGrants = (grants: readonly AwsGrant[]): string => {
  const listed = grants.slice(0, MAX_LISTED).map((g) => `${g.id} (${g.action} on ${g.resources.join(', ')})`);
  return grants.length > MAX_LISTED
    ? `${listed.join('; ')}; and ${grants.length - MAX_LISTED} more`
    : listed.join('; ');
};

export interface AwsAuthorizeInput {
  readonly intent: AwsIntent;
  /** Agent headers that change what the operation does; each must be in the grant's allowHeaders. */
  readonly sensitiveHeaders: readonly string[];
  /** Multipart uploads this task created, upload id → grant id. */
  readonly uploads: ReadonlyMap<string, string>;
}

export function authorizeAws(
  input: AwsAuthorizeInput,
  index: GrantIndex,
  ledger: UseLedger,
  now: number,
  deadline: number,
): Decision {
  const { intent } = input;
  if (now >= deadline)
    return deny(
      'manifest_expired',
      'this task has ended (its manifest expired); no AWS call is allowed any more',
    );

  const chosen: AwsGrant[] = [];
  const viaUpload: string[] = [];
  for (let n = 0; n < intent.needs.length; n++) {
    const need = intent.needs[n]!;
    // A part of an upload may be authorized under an action its grant implies (Abort, ListParts).
    const implying =
      intent.uploadId === undefined
        ? NO_GRANTS
        : Object.entries(IMPLIED_ACTIONS)
            .filter(([, implied]) => implied.includes(need.action))
            .flatMap(([action]) => index.aws.get(action) ?? []);
    const ofAction = index.aws.get(need.action) ?? [];
    const sameAction = implying.length === 0 ? ofAction : [...ofAction, ...implying];
    const covering =
      implying.length === 0 ? coveringOf(index, need) : sameAction.filter((g) => grantCovers(g, need));
    if (covering.length === 0) {
      const hint =
        sameAction.length > 0
          ? ` This task may do ${need.action} only as: ${describeGrants(sameAction)}.`
          : ` This task has no ${need.action} grant.`;
      return deny(
        'aws_op_not_granted',
        `${intent.operation} needs ${describeNeed(need)}, which this task's manifest does not grant.${hint}`,
      );
    }
    // The first need is the operation's own; later ones (a copy source, more keys) are plain reads/deletes.
    const only = n === 0 ? COVERED_OPERATIONS[covering[0]!.action] : undefined;
    if (only && !only.includes(intent.operation)) {
      return deny(
        'aws_op_not_granted',
        `grant ${covering[0]!.id} (${covering[0]!.action}) covers ${only.join(', ')}, not ${intent.operation}; this task may not run ${intent.operation}`,
      );
    }
    // A part of a multipart upload rides on the use its CreateMultipartUpload took.
    if (intent.uploadId !== undefined && intent.operation !== 'CreateMultipartUpload') {
      const owner = input.uploads.get(intent.uploadId);
      const grant = covering.find((g) => g.id === owner);
      if (!grant) {
        return deny(
          'aws_op_not_granted',
          `${intent.operation} names upload ${intent.uploadId.slice(0, 64)}, which was not started through this task's grant for ${describeNeed(need)}`,
        );
      }
      viaUpload.push(grant.id);
      continue;
    }
    // An unlimited grant is never exhausted: answered from the grant itself, without a lookup in
    // the ledger (built from the same grants), which with thousands of grants is a cache miss.
    const available = covering.find(
      (g) => (g.uses === 'unlimited' || ledger.remaining(g.id) !== 0) && !chosen.includes(g),
    );
    const already = covering.find((g) => chosen.includes(g));
    if (already) continue;
    if (!available) {
      const g = covering[0]!;
      return deny(
        'grant_exhausted',
        `grant ${g.id} (${g.action} on ${g.resources.join(', ')}) allowed ${String(g.uses)} use${g.uses === 1 ? '' : 's'} and ${g.uses === 1 ? 'it has' : 'they have'} been used; repeating or retrying this call will not be allowed`,
      );
    }
    chosen.push(available);
  }

  for (const header of input.sensitiveHeaders) {
    const grants = [...chosen, ...viaUpload.map((id) => index.byId.get(id) as AwsGrant)];
    const refusing = grants.find((g) => !g.allowHeaders.includes(header));
    if (refusing) {
      return deny(
        'header_not_allowed',
        `header ${header} changes what ${intent.operation} does and grant ${refusing.id} does not allow it; send the request without it`,
      );
    }
  }

  // Metadata-only reads need a use left but do not take one.
  if (METADATA_ONLY.has(intent.operation)) {
    const all = [...chosen.map((g) => g.id), ...viaUpload];
    return {
      allow: true,
      reason: 'allowed',
      grantIds: all,
      message: `allowed by ${all.join(', ')} (metadata only: no use taken)`,
      taken: [],
    };
  }
  const ids = chosen.map((g) => g.id);
  // Unlimited grants have nothing to count: no ledger take, no journal line, no sync on the path.
  const counted = countedOf(chosen);
  const exhausted = counted.length === 0 ? undefined : ledger.take(counted);
  if (exhausted !== undefined) return deny('grant_exhausted', `grant ${exhausted} has no uses left`);
  const all = viaUpload.length === 0 ? ids : [...ids, ...viaUpload];
  return {
    allow: true,
    reason: 'allowed',
    grantIds: all,
    message: `allowed by ${all.length === 1 ? all[0] : all.join(', ')}`,
    taken: counted,
  };
}

/** The exact URL a grant names, rebuilt from an intent for comparison. */
export const intentUrl = (i: HttpIntent): string => {
  const defaultPort = i.scheme === 'https' ? 443 : 80;
  const host = i.host.includes(':') ? `[${i.host}]` : i.host;
  return `${i.scheme}://${host}${i.port === defaultPort ? '' : `:${i.port}`}${i.rawPath}${i.rawQuery === '' ? '' : `?${i.rawQuery}`}`;
};

const patternMatches = (pattern: string, url: string): boolean => {
  const p = pattern.split('/');
  const u = url.split('/');
  if (p.length !== u.length) return false;
  // '*' is one whole, non-empty path segment with no dot segment and no query.
  return p.every((seg, i) =>
    seg === '*' ? /^[^/?#]+$/.test(u[i]!) && u[i] !== '.' && u[i] !== '..' : seg === u[i],
  );
};

export function authorizeHttp(
  intent: HttpIntent,
  index: GrantIndex,
  ledger: UseLedger,
  now: number,
  deadline: number,
): Decision {
  if (now >= deadline)
    return deny(
      'manifest_expired',
      'this task has ended (its manifest expired); no call is allowed any more',
    );
  const url = intentUrl(intent);
  const sameMethod = index.http.get(intent.method) ?? [];
  const covering = sameMethod.filter((g) => (g.pattern ? patternMatches(g.url, url) : g.url === url));
  if (covering.length === 0) {
    return deny('not_in_manifest', `${intent.method} ${url.slice(0, 200)} is not granted to this task`);
  }
  const grant = covering.find((g) => ledger.remaining(g.id) !== 0);
  if (!grant) {
    const g = covering[0]!;
    return deny(
      'grant_exhausted',
      `grant ${g.id} (${g.method} ${g.url}) allowed ${String(g.uses)} use${g.uses === 1 ? '' : 's'} and they have been used`,
    );
  }
  const exhausted = ledger.take([grant.id]);
  if (exhausted !== undefined) return deny('grant_exhausted', `grant ${exhausted} has no uses left`);
  return {
    allow: true,
    reason: 'allowed',
    grantIds: [grant.id],
    message: `allowed by ${grant.id}`,
    taken: grant.uses === 'unlimited' ? [] : [grant.id],
  };
}
