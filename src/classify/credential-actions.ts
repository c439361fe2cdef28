// IAM actions whose response carries credentials (or, for sts:GetCallerIdentity, the role's
// identity). Errand refuses them whatever a manifest grants (SECURITY-CASES E12): the agent must
// never hold a credential, and these would hand it one. Shared with the manifest linter.

/** Every action of these services is refused (all STS operations mint credentials or reveal
 *  identity: AssumeRole*, GetSessionToken, GetFederationToken, GetCallerIdentity, …). */
export const CREDENTIAL_RETURNING_SERVICES: readonly string[] = Object.freeze(['sts']);

/** Single actions of other services whose response carries a credential, a token, a password or
 *  a key. Sources: each operation's API reference (S3 CreateSession "returns temporary security
 *  credentials"; ECR, ECR Public and CodeArtifact GetAuthorizationToken; Cognito
 *  GetCredentialsForIdentity; IAM CreateAccessKey and service-specific credentials; Redshift
 *  GetClusterCredentials*, Redshift Serverless GetCredentials; EMR on EKS
 *  GetManagedEndpointSessionCredentials; Lightsail GetInstanceAccessDetails and
 *  GetRelationalDatabaseMasterUserPassword; GameLift GetInstanceAccess and GetComputeAccess).
 *  sso:GetRoleCredentials is the IAM Identity Center portal API, authorized by a bearer token
 *  rather than IAM; it is listed so that no manifest can name it. */
export const CREDENTIAL_RETURNING_ACTIONS: readonly string[] = Object.freeze([
  'codeartifact:GetAuthorizationToken',
  'cognito-identity:GetCredentialsForIdentity',
  'ecr-public:GetAuthorizationToken',
  'ecr:GetAuthorizationToken',
  'emr-containers:GetManagedEndpointSessionCredentials',
  'gamelift:GetComputeAccess',
  'gamelift:GetInstanceAccess',
  'iam:CreateAccessKey',
  'iam:CreateServiceSpecificCredential',
  'iam:ResetServiceSpecificCredential',
  'lightsail:GetInstanceAccessDetails',
  'lightsail:GetRelationalDatabaseMasterUserPassword',
  'redshift-serverless:GetCredentials',
  'redshift:GetClusterCredentials',
  'redshift:GetClusterCredentialsWithIAM',
  's3express:CreateSession',
  'sso:GetRoleCredentials',
]);

/** The two lists lower-cased once (this check runs for every need of every request). */
const LOWER_SERVICES: ReadonlySet<string> = new Set(
  CREDENTIAL_RETURNING_SERVICES.map((s) => s.toLowerCase()),
);
const LOWER_ACTIONS: ReadonlySet<string> = new Set(CREDENTIAL_RETURNING_ACTIONS.map((a) => a.toLowerCase()));

/** True when an IAM action (as IAM compares them: case-insensitively) returns credentials. */
export function isCredentialReturningAction(action: string): boolean {
  const lower = action.toLowerCase();
  const colon = lower.indexOf(':');
  if (colon <= 0) return false;
  return LOWER_SERVICES.has(lower.slice(0, colon)) || LOWER_ACTIONS.has(lower);
}

/** IAM wildcard pattern → anchored, case-insensitive RegExp (IAM User Guide, "Action" element:
 *  `*` any run of characters, `?` one character). */
function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${body}$`, 'is');
}

/** True when an IAM action pattern could match a credential-returning action: for the manifest
 *  linter (a grant of `sts:*`, `s3express:*` or `*` is as dangerous as the action itself). */
export function mayMatchCredentialReturningAction(pattern: string): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) return isCredentialReturningAction(pattern);
  const colon = pattern.indexOf(':');
  if (colon > 0) {
    const serviceRe = globToRegExp(pattern.slice(0, colon));
    if (CREDENTIAL_RETURNING_SERVICES.some((s) => serviceRe.test(s))) return true;
  }
  const re = globToRegExp(pattern);
  return CREDENTIAL_RETURNING_ACTIONS.some((a) => re.test(a));
}
