// Compiles a manifest's AWS grants into the inline session policies Errand passes to STS
// AssumeRole, and the session parameters that go with them. Pure: values in, values out.
//
// Why a session policy at all: "the resulting session's permissions are the intersection of the
// role's identity-based policy and the session policies" (STS AssumeRole, parameter Policy). If
// Errand's own authorizer were ever wrong, AWS still refuses anything the manifest did not grant,
// and refuses everything once `expiresAt` has passed, although STS issues credentials for 900 s.

import { createHash } from 'node:crypto';
import {
  CREDENTIAL_RETURNING_ACTIONS as CLASSIFIER_CREDENTIAL_ACTIONS,
  CREDENTIAL_RETURNING_SERVICES,
  isCredentialReturningAction,
} from '../classify/credential-actions.ts';
import type { ErrorCode } from '../errors.ts';
import type { AwsGrant, LoadedManifest, Manifest } from './types.ts';

/** STS AssumeRole: "The plaintext that you use for both inline and managed session policies can't
 *  exceed 2,048 characters." The packed (compressed) size has a separate, undocumented limit. */
export const POLICY_SIZE_LIMIT = 2048;
/** STS AssumeRole DurationSeconds minimum; the deadline condition cuts the session shorter. */
export const SESSION_DURATION_SECONDS = 900;
/** Hex characters of the manifest sha256 carried in the errand-manifest session tag. */
export const MANIFEST_TAG_HEX_LENGTH = 16;

/** IAM actions a grant of the key action needs besides itself, on the same ARNs.
 *  S3 authorizes CreateMultipartUpload, UploadPart and CompleteMultipartUpload under s3:PutObject,
 *  but AbortMultipartUpload under s3:AbortMultipartUpload and ListParts under
 *  s3:ListMultipartUploadParts (S3 User Guide, "Multipart upload API and permissions"). Errand's
 *  authorizer counts all five operations as part of an s3:PutObject grant on the same key, so the
 *  session policy allows the two extra actions on exactly the granted object ARNs: otherwise AWS
 *  would refuse the cleanup of a failed upload that Errand allowed. UploadPartCopy is not covered:
 *  it also needs s3:GetObject on the source, which only a separate read grant gives. */
export const IMPLIED_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  's3:PutObject': ['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
};

/** Actions whose response hands out (or creates) credential material, beyond the classifier's
 *  list in src/classify/credential-actions.ts: an OIDC token exchangeable for credentials
 *  (cognito-identity GetOpenIdToken*), EKS Pod Identity credentials, and console passwords the
 *  caller chooses (iam Create/UpdateLoginProfile). The session policy refuses the union of both. */
export const ADDITIONAL_CREDENTIAL_ACTIONS: readonly string[] = [
  'cognito-identity:GetOpenIdToken',
  'cognito-identity:GetOpenIdTokenForDeveloperIdentity',
  'eks-auth:AssumeRoleForPodIdentity',
  'iam:CreateLoginProfile',
  'iam:UpdateLoginProfile',
];

/** Every named credential-returning action (SECURITY-CASES §E12), sorted; all of
 *  CREDENTIAL_RETURNING_SERVICES (sts) besides. Errand refuses them whatever the manifest says,
 *  and no session policy allows them, so even a faulted authorizer cannot hand the agent one. */
export const CREDENTIAL_RETURNING_ACTIONS: readonly string[] = [
  ...new Set([...CLASSIFIER_CREDENTIAL_ACTIONS, ...ADDITIONAL_CREDENTIAL_ACTIONS]),
].sort();

export { CREDENTIAL_RETURNING_SERVICES };

/** True for an action that returns credentials; compares case-insensitively, as IAM does. */
export function isCredentialReturning(action: string): boolean {
  const lower = action.toLowerCase();
  return (
    isCredentialReturningAction(action) ||
    ADDITIONAL_CREDENTIAL_ACTIONS.some((a) => a.toLowerCase() === lower)
  );
}

export type SessionKey = 'task' | `grant:${string}`;

export interface PolicyStatement {
  readonly Effect: 'Allow';
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export interface PolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly PolicyStatement[];
}

export interface SessionPolicy {
  readonly sessionKey: SessionKey;
  /** The grants this session serves, in manifest order. */
  readonly grantIds: readonly string[];
  readonly policy: PolicyDocument;
  /** The minified JSON sent to STS as `Policy`. */
  readonly json: string;
  /** Characters of `json`, the figure STS compares with POLICY_SIZE_LIMIT. */
  readonly size: number;
}

/** A problem found without source positions; callers with a locator add line and column. */
export interface PolicyProblem {
  readonly code: ErrorCode;
  /** JSON pointer into the manifest source, e.g. /aws/grants/0. */
  readonly path: string;
  readonly message: string;
  readonly fix?: string;
}

interface Triple {
  readonly actions: readonly string[];
  readonly resources: readonly string[];
  readonly condition: PolicyStatement['Condition'];
}

const sortedUnique = (values: Iterable<string>): string[] => [...new Set(values)].sort();

// One (actions, resources, condition) triple per grant: exactly the granted action (plus the
// actions S3 needs for the same flow) on exactly the granted ARNs, until the deadline.
// In a 2012-10-17 policy `${…}` in a Resource or a string condition value is a policy variable:
// an S3 key spelled `r/${aws:SourceIdentity}/x` would allow `r/alice/x` instead of itself. IAM
// writes a literal dollar sign as `${$}` (IAM User Guide, "IAM policy elements: Variables and
// tags", special characters), so every `$` from the manifest is escaped that way.
const literal = (value: string): string => value.replaceAll('$', () => '$' + '{$}');

/** Headers a grant may allow on an S3 write whose effect AWS authorizes under an action of its own
 *  (S3 API reference, PutObject "Permissions": x-amz-acl and x-amz-grant-* need s3:PutObjectAcl,
 *  x-amz-tagging needs s3:PutObjectTagging, object lock needs s3:PutObjectRetention /
 *  s3:PutObjectLegalHold, and bypassing governance mode s3:BypassGovernanceRetention). Without them
 *  in the session policy AWS would refuse a request Errand allowed. */
export const HEADER_ACTIONS: readonly (readonly [RegExp, readonly string[]])[] = [
  [/^x-amz-acl$|^x-amz-grant-/, ['s3:PutObjectAcl']],
  [/^x-amz-tagging$/, ['s3:PutObjectTagging']],
  [/^x-amz-object-lock-(mode|retain-until-date)$/, ['s3:PutObjectRetention']],
  [/^x-amz-object-lock-legal-hold$/, ['s3:PutObjectLegalHold']],
  [/^x-amz-bypass-governance-retention$/, ['s3:BypassGovernanceRetention']],
];

const headerActionsOf = (action: string, header: string): readonly string[] =>
  action === 's3:PutObject' || action === 's3:CopyObject'
    ? HEADER_ACTIONS.filter(([re]) => re.test(header)).flatMap(([, actions]) => actions)
    : [];

const tripleOf = (grant: AwsGrant, expiresAt: string): Triple => {
  const condition: Record<string, Record<string, string>> = {
    DateLessThan: { 'aws:CurrentTime': expiresAt },
  };
  if (grant.conditions.s3Prefix !== undefined) {
    condition['StringEquals'] = { 's3:prefix': literal(grant.conditions.s3Prefix) };
  }
  return {
    actions: sortedUnique([
      grant.action,
      ...(IMPLIED_ACTIONS[grant.action] ?? []),
      ...grant.allowHeaders.flatMap((h) => headerActionsOf(grant.action, h)),
    ]),
    resources: sortedUnique(grant.resources.map(literal)),
    condition,
  };
};

// Merges triples that agree on two of the three parts. Merging is exact only then: A×R1 ∪ A×R2 =
// A×(R1∪R2), whereas merging on the condition alone would allow every action on every ARN.
const mergeOn = (triples: readonly Triple[], same: 'resources' | 'actions'): Triple[] => {
  const other = same === 'resources' ? 'actions' : 'resources';
  const groups = new Map<string, Triple>();
  for (const t of triples) {
    const key = JSON.stringify([t[same], t.condition]);
    const seen = groups.get(key);
    groups.set(key, seen ? { ...seen, [other]: sortedUnique([...seen[other], ...t[other]]) } : t);
  }
  return [...groups.values()];
};

const one = (values: readonly string[]): string | readonly string[] =>
  values.length === 1 ? values[0]! : values;

const statementOf = (t: Triple): PolicyStatement => ({
  Effect: 'Allow',
  Action: one(t.actions),
  Resource: one(t.resources),
  Condition: t.condition,
});

// STS accepts policy characters U+0020..U+00FF plus tab, LF and CR; anything else (an S3 key in
// another script) goes as a JSON \u escape, which IAM reads back as the same character.
const encodePolicy = (policy: PolicyDocument): string =>
  JSON.stringify(policy).replace(
    /[^\t\n\r\u0020-\u00ff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );

/** The session policy for a set of grants: deterministic, sorted, Allow statements only. */
export function compilePolicy(grants: readonly AwsGrant[], expiresAt: string): PolicyDocument {
  const triples = mergeOn(
    mergeOn(
      grants.map((g) => tripleOf(g, expiresAt)),
      'resources',
    ),
    'actions',
  );
  const statements = triples
    .map(statementOf)
    .map((s) => ({ s, key: JSON.stringify(s) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ s }) => s);
  return { Version: '2012-10-17', Statement: statements };
}

const sessionPolicyOf = (
  sessionKey: SessionKey,
  grants: readonly AwsGrant[],
  expiresAt: string,
): SessionPolicy => {
  const policy = compilePolicy(grants, expiresAt);
  const json = encodePolicy(policy);
  return { sessionKey, grantIds: grants.map((g) => g.id), policy, json, size: json.length };
};

/** One policy for `isolation: task` (all AWS grants), one per grant for `isolation: grant`; grants
 *  of credential-returning actions are left out of every policy. */
export function compileSessionPolicies(m: Manifest): SessionPolicy[] {
  // A grant of a credential-returning action gets no permission at all: Errand refuses it anyway.
  const grants = (m.aws?.grants ?? []).filter((g) => !isCredentialReturning(g.action));
  if (m.aws === undefined || grants.length === 0) return [];
  const expiresAt = m.task.expiresAt;
  if (m.aws.isolation === 'task') return [sessionPolicyOf('task', grants, expiresAt)];
  return grants.map((g) => sessionPolicyOf(`grant:${g.id}`, [g], expiresAt));
}

const pathOf = (m: Manifest, p: SessionPolicy): string => {
  if (p.sessionKey === 'task') return '/aws/grants';
  const index = m.aws?.grants.findIndex((g) => `grant:${g.id}` === p.sessionKey) ?? -1;
  return `/aws/grants/${index}`;
};

const sizeProblem = (m: Manifest, p: SessionPolicy): PolicyProblem => ({
  code: 'ERR_MANIFEST_POLICY_TOO_LARGE',
  path: pathOf(m, p),
  message:
    p.sessionKey === 'task'
      ? `the session policy for all ${p.grantIds.length} AWS grants is ${p.size} characters of minified JSON; STS accepts at most ${POLICY_SIZE_LIMIT}`
      : `the session policy for grant '${p.grantIds[0]}' is ${p.size} characters of minified JSON; STS accepts at most ${POLICY_SIZE_LIMIT}`,
  fix:
    p.sessionKey === 'task'
      ? 'set aws.isolation: grant (one session per grant), or split the task into several manifests'
      : 'name fewer resources in this grant, or split it into several grants',
});

/** A problem for every session policy STS would refuse as too long. */
export function checkPolicySizes(m: Manifest): PolicyProblem[] {
  return compileSessionPolicies(m)
    .filter((p) => p.size > POLICY_SIZE_LIMIT)
    .map((p) => sizeProblem(m, p));
}

// ---- STS AssumeRole parameters ----

export interface SessionTag {
  readonly Key: string;
  readonly Value: string;
}

/** The AssumeRole input for one session, in the STS API's own field names. */
export interface SessionParameters {
  readonly RoleArn: string;
  readonly RoleSessionName: string;
  readonly DurationSeconds: number;
  readonly Policy: string;
  readonly SourceIdentity: string;
  readonly Tags: readonly SessionTag[];
  /** Not set: Errand never chains roles, and sts:* is never in a session policy it would honour. */
  readonly TransitiveTagKeys?: readonly string[];
}

export type SessionParametersResult =
  | { readonly ok: true; readonly parameters: SessionParameters }
  | { readonly ok: false; readonly problems: readonly PolicyProblem[] };

// STS AssumeRole: RoleSessionName and SourceIdentity are 2..64 characters of [\w+=,.@-]; a
// SourceIdentity may not begin with `aws:` (excluded here by the charset already).
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
// STS Tag: Value 0..256 characters of [\p{L}\p{Z}\p{N}_.:/=+\-@]; Key 1..128 of the same set.
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;
const SESSION_NAME_MAX = 64;
const SESSION_NAME_HASH_HEX = 8;

const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The RoleSessionName: the task id, or `<task id>.<grant id>` cut to 64 characters with a hash
 *  of the full name as a suffix so two long grant ids never share a name. CloudTrail shows it. */
export function sessionNameOf(taskId: string, sessionKey: SessionKey): string {
  if (sessionKey === 'task') return taskId;
  const full = `${taskId}.${sessionKey.slice('grant:'.length)}`;
  if (full.length <= SESSION_NAME_MAX) return full;
  const keep = SESSION_NAME_MAX - SESSION_NAME_HASH_HEX - 1;
  return `${full.slice(0, keep)}-${sha256Hex(full).slice(0, SESSION_NAME_HASH_HEX)}`;
}

/** AssumeRole parameters for one compiled session policy, or the problems STS would reject.
 *  Values are refused rather than rewritten: a sanitized identity could collide with another
 *  user's in CloudTrail or in an `aws:SourceIdentity` condition. */
export function sessionParameters(loaded: LoadedManifest, policy: SessionPolicy): SessionParametersResult {
  const { task, aws } = loaded.manifest;
  const problems: PolicyProblem[] = [];
  const roleSessionName = sessionNameOf(task.id, policy.sessionKey);
  if (!SESSION_NAME.test(roleSessionName)) {
    problems.push({
      code: 'ERR_MANIFEST_STS_PARAMETER',
      path: '/task/id',
      message: `task.id '${task.id}' cannot be an STS RoleSessionName (2 to 64 characters of A-Z a-z 0-9 _ + = , . @ -)`,
      fix: 'use a task id of 2 to 64 characters from A-Z a-z 0-9 _ + = , . @ -',
    });
  }
  if (!SESSION_NAME.test(task.user.subject)) {
    problems.push({
      code: 'ERR_MANIFEST_STS_PARAMETER',
      path: '/task/user/subject',
      message: `task.user.subject '${task.user.subject}' cannot be an STS SourceIdentity (2 to 64 characters of A-Z a-z 0-9 _ + = , . @ -)`,
      fix: 'have the orchestrator map the user to an identifier in that character set, e.g. an email address or an opaque id',
    });
  }
  const manifestTag = loaded.sha256.slice(0, MANIFEST_TAG_HEX_LENGTH);
  const tags: SessionTag[] = [
    { Key: 'errand-manifest', Value: manifestTag },
    { Key: 'errand-session', Value: task.user.session },
    { Key: 'errand-task', Value: task.id },
    { Key: 'errand-user', Value: task.user.subject },
  ];
  const tagPaths: Readonly<Record<string, string>> = {
    'errand-session': '/task/user/session',
    'errand-task': '/task/id',
    'errand-user': '/task/user/subject',
  };
  for (const tag of tags) {
    if (TAG_VALUE.test(tag.Value)) continue;
    problems.push({
      code: 'ERR_MANIFEST_STS_PARAMETER',
      path: tagPaths[tag.Key] ?? '',
      message: `'${tag.Value}' cannot be the value of STS session tag ${tag.Key} (at most 256 letters, digits, spaces and _ . : / = + - @)`,
      fix: 'use only letters, digits, spaces and _ . : / = + - @',
    });
  }
  if (policy.size > POLICY_SIZE_LIMIT) problems.push(sizeProblem(loaded.manifest, policy));
  if (aws === undefined) {
    problems.push({
      code: 'ERR_MANIFEST_STS_PARAMETER',
      path: '/aws',
      message: 'the manifest has no aws section, so there is no role to assume',
      fix: 'add aws.region, aws.roleArn and the AWS grants',
    });
  }
  if (problems.length > 0 || aws === undefined) return { ok: false, problems };
  return {
    ok: true,
    parameters: {
      RoleArn: aws.roleArn,
      RoleSessionName: roleSessionName,
      DurationSeconds: SESSION_DURATION_SECONDS,
      Policy: policy.json,
      SourceIdentity: task.user.subject,
      Tags: tags,
    },
  };
}
