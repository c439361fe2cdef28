// From a parsed source value to a frozen Manifest: schema validation, then the checks a schema
// cannot express (IAM actions and ARN types, canonical URLs, deadlines, unique ids), all reported
// at once with paths and positions. Pure: the clock arrives as `now`, IAM data through the catalogue.

import { createHash } from 'node:crypto';
import type { ErrorCode } from '../errors.ts';
import { checkBucketName, hasWildcard, parseArn, partitionOfRegion } from './arn.ts';
import { checkGrantUrl } from './http-url.ts';
import { createIamCatalog, type IamAction, type IamCatalog, suggest } from './iam-actions.ts';
import { parseInstant } from './instant.ts';
import type { Position } from './positions.ts';
import { createSchemaValidator, type SchemaValidator, show } from './schema.ts';
import type {
  AwsGrant,
  HttpGrant,
  LoadedManifest,
  Manifest,
  OAuthInject,
  OAuthTokenType,
  Passthrough,
  Uses,
} from './types.ts';

/** Longest a manifest may live: the STS role session ceiling (DurationSeconds max 43,200 s). */
export const MAX_MANIFEST_TTL_MS = 12 * 60 * 60 * 1000;

export interface Problem {
  readonly code: ErrorCode;
  /** JSON pointer into the manifest, e.g. /aws/grants/0/action. */
  readonly path: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  readonly fix?: string;
}

export type Locate = (path: string) => { line: number; column: number };

export type LoadResult =
  | {
      readonly ok: true;
      readonly loaded: LoadedManifest;
      readonly locate: Locate;
      /** The manifest as written (before defaults), e.g. to embed it in a signed manifest. */
      readonly source: Readonly<Record<string, unknown>>;
    }
  | { readonly ok: false; readonly problems: readonly Problem[] };

/** The compiled schema and the IAM catalogue; create one and reuse it to load many manifests. */
export interface ManifestChecker {
  readonly validate: SchemaValidator;
  readonly iam: IamCatalog;
}

export const createManifestChecker = (): ManifestChecker => ({
  validate: createSchemaValidator(),
  iam: createIamCatalog(),
});

export interface CheckOptions {
  readonly now: number;
  readonly checker?: ManifestChecker;
  /** Hash of the bytes the value came from (source file or JWS payload). */
  readonly bytes: string | Uint8Array;
  readonly signed: boolean;
  /** Review mode: the deadline is left to lint (see LoadTextOptions.review). */
  readonly review?: boolean;
}

/** A problem before positions: where (and whether the key or the value is meant), what, how to fix. */
interface Finding {
  readonly code: ErrorCode;
  readonly path: string;
  readonly at: 'key' | 'value';
  readonly message: string;
  readonly fix?: string;
}

export function checkManifestValue(
  value: unknown,
  locate: (pointer: string, at?: 'key' | 'value') => Position,
  options: CheckOptions,
): LoadResult {
  const checker = options.checker ?? createManifestChecker();
  const findings: Finding[] = checker
    .validate(value)
    .map((p) => ({ code: 'ERR_MANIFEST_INVALID' as const, ...p }));
  const schemaPaths = new Set(findings.map((f) => f.path));
  const semantic = checkSemantics(value, options.now, checker.iam, options.review === true);
  // A value the schema already refused gets no second, derived complaint.
  findings.push(...semantic.filter((f) => !schemaPaths.has(f.path)));
  const toProblem = (f: Finding): Problem => {
    const { line, column } = locate(f.path, f.at);
    return {
      code: f.code,
      path: f.path,
      line,
      column,
      message: f.message,
      ...(f.fix !== undefined ? { fix: f.fix } : {}),
    };
  };
  if (findings.length > 0) {
    const problems = findings.map(toProblem);
    problems.sort((a, b) => a.line - b.line || a.column - b.column || a.path.localeCompare(b.path));
    return { ok: false, problems };
  }
  const source = value as Record<string, unknown>;
  const manifest = buildManifest(source);
  const loaded: LoadedManifest = {
    manifest,
    sha256: createHash('sha256').update(options.bytes).digest('hex'),
    expiresAtMs: Date.parse(manifest.task.expiresAt),
    signed: options.signed,
  };
  return {
    ok: true,
    loaded: deepFreeze(loaded),
    locate: (path) => locate(path, 'value'),
    source: deepFreeze(structuredClone(source)),
  };
}

export const deepFreeze = <T>(value: T): T => {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
};

// Untyped accessors: semantic checks run even when the schema failed elsewhere, so they read the
// raw value defensively and skip what is not the expected shape.
type Obj = Readonly<Record<string, unknown>>;
const asObj = (v: unknown): Obj | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
const asStr = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const asArr = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);
/** A string-or-list field as (value, path) pairs. */
const listAt = (v: unknown, path: string): { value: string; path: string }[] =>
  typeof v === 'string'
    ? [{ value: v, path }]
    : asArr(v).flatMap((item, i) =>
        typeof item === 'string' ? [{ value: item, path: `${path}/${i}` }] : [],
      );

const EXPIRES_AT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;
const ACTION = /^([a-z0-9-]+):([A-Za-z0-9]+)$/;

/** Headers SigV4 signing and aws-chunked framing own; an agent never chooses them. */
const SIGNING_HEADERS: ReadonlySet<string> = new Set([
  'x-amz-algorithm',
  'x-amz-content-sha256',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-decoded-content-length',
  'x-amz-expires',
  'x-amz-security-token',
  'x-amz-signature',
  'x-amz-signedheaders',
  'x-amz-trailer',
]);

/** Connection-level and framing headers (RFC 9110 §7.6.1, RFC 9112 §6); Errand owns them. */
const UNINJECTABLE_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'content-length',
  'expect',
  'host',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const SECRET_PLACEHOLDER = /\$\{secret:([^}]*)\}/g;
/** Bound on the serialized RFC 9396 authorization_details a grant may ask for. */
export const MAX_AUTHORIZATION_DETAILS_CHARS = 4096;
const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function checkSemantics(value: unknown, now: number, iam: IamCatalog, review: boolean): Finding[] {
  const findings: Finding[] = [];
  const add = (code: ErrorCode, path: string, message: string, fix?: string, at: 'key' | 'value' = 'value') =>
    findings.push({ code, path, at, message, ...(fix !== undefined ? { fix } : {}) });
  const root = asObj(value);
  if (root === undefined) return findings;

  checkDeadline(asStr(asObj(root['task'])?.['expiresAt']), review ? undefined : now, add);

  const ids = new Map<string, string>();
  const claimId = (grant: Obj | undefined, path: string) => {
    const id = asStr(grant?.['id']);
    if (id === undefined) return;
    const first = ids.get(id);
    if (first !== undefined) {
      add(
        'ERR_MANIFEST_INVALID',
        `${path}/id`,
        `grant id ${show(id)} is already used at ${first}`,
        'give every grant its own id',
      );
    } else {
      ids.set(id, `${path}/id`);
    }
  };

  const aws = asObj(root['aws']);
  if (aws !== undefined) {
    const region = asStr(aws['region']);
    const roleArn = asStr(aws['roleArn']);
    const rolePartition = roleArn !== undefined ? parseArn(roleArn)?.partition : undefined;
    if (region !== undefined && rolePartition !== undefined && partitionOfRegion(region) !== rolePartition) {
      add(
        'ERR_MANIFEST_INVALID',
        '/aws/roleArn',
        `the role is in partition ${show(rolePartition)} but region ${show(region)} is in ${show(partitionOfRegion(region))}`,
        'use a role and a region of the same partition',
      );
    }
    asArr(aws['grants']).forEach((g, i) => {
      const path = `/aws/grants/${i}`;
      const grant = asObj(g);
      claimId(grant, path);
      if (grant !== undefined) checkAwsGrant(grant, path, { region, rolePartition }, iam, add);
    });
  }

  const http = asObj(root['http']);
  if (http !== undefined) {
    const grantHosts = new Map<string, string>();
    asArr(http['grants']).forEach((g, i) => {
      const path = `/http/grants/${i}`;
      const grant = asObj(g);
      claimId(grant, path);
      if (grant === undefined) return;
      checkHttpGrant(grant, path, add);
      const url = asStr(grant['url']) ?? asStr(grant['urlPattern']);
      if (url !== undefined && URL.canParse(url)) {
        const host = new URL(url).hostname.replace(/\.$/, '');
        if (!grantHosts.has(host)) grantHosts.set(host, asStr(grant['id']) ?? path);
      }
    });
    const seen = new Map<string, string>();
    asArr(http['passthrough']).forEach((p, i) => {
      const path = `/http/passthrough/${i}`;
      const host = asStr(asObj(p)?.['host']);
      if (host === undefined) return;
      const port = asObj(p)?.['port'] ?? 443;
      const key = `${host}:${String(port)}`;
      const first = seen.get(key);
      if (first !== undefined) {
        add(
          'ERR_MANIFEST_INVALID',
          path,
          `passthrough ${key} is already listed at ${first}`,
          'remove the duplicate',
        );
      } else {
        seen.set(key, path);
      }
      const grant = grantHosts.get(host);
      if (grant !== undefined) {
        add(
          'ERR_MANIFEST_INVALID',
          `${path}/host`,
          `${show(host)} is also the host of HTTP grant ${show(grant)}: a passthrough tunnel is not inspected, so the grant's method, URL and use limits could be bypassed`,
          'remove the passthrough entry or the grant',
        );
      }
    });
  }
  return findings;
}

type Add = (code: ErrorCode, path: string, message: string, fix?: string) => void;

function checkDeadline(expiresAt: string | undefined, now: number | undefined, add: Add): void {
  if (expiresAt === undefined || !EXPIRES_AT.test(expiresAt)) return;
  const ms = parseInstant(expiresAt);
  if (ms === undefined) {
    add('ERR_MANIFEST_INVALID', '/task/expiresAt', `${show(expiresAt)} is not a real date and time`);
    return;
  }
  if (now === undefined) return;
  const iso = (t: number) => new Date(Math.floor(t / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  if (ms <= now) {
    add(
      'ERR_MANIFEST_EXPIRED',
      '/task/expiresAt',
      `the manifest expired at ${expiresAt} (now is ${iso(now)})`,
      'issue a new manifest with a later expiresAt',
    );
  } else if (ms - now > MAX_MANIFEST_TTL_MS) {
    const hours = ((ms - now) / 3_600_000).toFixed(1);
    add(
      'ERR_MANIFEST_INVALID',
      '/task/expiresAt',
      `expiresAt is ${hours} h from now; a manifest may live at most 12 h`,
      `set expiresAt no later than ${iso(now + MAX_MANIFEST_TTL_MS)}`,
    );
  }
}

function checkAwsGrant(
  grant: Obj,
  path: string,
  scope: { region: string | undefined; rolePartition: string | undefined },
  iam: IamCatalog,
  add: Add,
): void {
  const actionText = asStr(grant['action']);
  const m = actionText === undefined ? null : ACTION.exec(actionText);
  let action: IamAction | undefined;
  let service: string | undefined;
  if (m !== null) {
    service = m[1]!;
    const name = m[2]!;
    if (!iam.hasService(service)) {
      const near = suggest(service, iam.serviceNames());
      add(
        'ERR_MANIFEST_INVALID',
        `${path}/action`,
        `unknown IAM service prefix ${show(service)}`,
        near !== undefined
          ? `did you mean ${show(`${near}:${name}`)}?`
          : 'use a service prefix from the Service Authorization Reference',
      );
    } else {
      action = iam.action(service, name);
      if (action === undefined) {
        const near = suggest(name, iam.actionNames(service));
        add(
          'ERR_MANIFEST_INVALID',
          `${path}/action`,
          `${show(actionText)} is not an IAM action of ${service}`,
          near !== undefined
            ? `did you mean ${show(`${service}:${near}`)}?`
            : `list ${service}'s actions in the Service Authorization Reference`,
        );
      } else if (action.name !== name) {
        add(
          'ERR_MANIFEST_INVALID',
          `${path}/action`,
          `IAM spells this action ${show(`${service}:${action.name}`)}`,
          `write ${service}:${action.name}`,
        );
        action = undefined;
      }
    }
  }
  const qualified = action !== undefined ? `${service}:${action.name}` : undefined;
  const accepts =
    action !== undefined ? action.resourceTypes.map((t) => `${t.name} (${t.arn})`).join(', ') : '';

  for (const { value: arn, path: at } of listAt(grant['resource'], `${path}/resource`)) {
    if (hasWildcard(arn)) {
      add(
        'ERR_MANIFEST_INVALID',
        at,
        `resource must name exact ARNs; ${show(arn)} has a wildcard`,
        'write the exact ARN, or move the pattern to broadResource (reviewers are warned about broad grants)',
      );
      continue;
    }
    const parsed = parseArn(arn);
    if (parsed === undefined) {
      add(
        'ERR_MANIFEST_INVALID',
        at,
        `${show(arn)} is not an ARN`,
        'write arn:partition:service:region:account:resource',
      );
      continue;
    }
    if (!checkArnScope(parsed, at, scope, add)) continue;
    if (action === undefined || service === undefined) continue;
    if (action.resourceTypes.length === 0) {
      add(
        'ERR_MANIFEST_INVALID',
        at,
        `${qualified} cannot be limited to a resource: IAM accepts only "*" for it`,
        'use broadResource: "*" if the task really needs this action',
      );
      continue;
    }
    const type = iam.resourceTypeOf(service, arn);
    if (type === undefined || !action.resourceTypes.some((t) => t.name === type.name)) {
      add(
        'ERR_MANIFEST_INVALID',
        at,
        type === undefined
          ? `${show(arn)} is not an ARN ${qualified} acts on`
          : `${show(arn)} is of resource type ${show(type.name)}, which ${qualified} does not act on`,
        `${qualified} accepts: ${accepts}`,
      );
      continue;
    }
    if (parsed.service === 's3' && (type.name === 'bucket' || type.name === 'object')) {
      const slash = parsed.resource.indexOf('/');
      const bucket = slash === -1 ? parsed.resource : parsed.resource.slice(0, slash);
      const wrong = checkBucketName(bucket);
      if (wrong !== undefined)
        add('ERR_MANIFEST_INVALID', at, `${show(bucket)} is not a valid S3 bucket name`, wrong);
    }
  }

  for (const { value: pattern, path: at } of listAt(grant['broadResource'], `${path}/broadResource`)) {
    if (pattern === '*') {
      if (action !== undefined && action.resourceTypes.length > 0) {
        add(
          'ERR_MANIFEST_INVALID',
          at,
          `"*" would grant ${qualified} on every resource the role can reach`,
          `name at least the container, e.g. ${action.resourceTypes[0]!.arn} with * only in the part that varies`,
        );
      }
      continue;
    }
    if (action !== undefined && action.resourceTypes.length === 0) {
      add('ERR_MANIFEST_INVALID', at, `IAM accepts only "*" for ${qualified}`, 'write broadResource: "*"');
      continue;
    }
    if (!hasWildcard(pattern)) {
      add(
        'ERR_MANIFEST_INVALID',
        at,
        `${show(pattern)} has no * or ?: it is an exact ARN`,
        'move it to resource',
      );
      continue;
    }
    const parsed = parseArn(pattern);
    if (parsed === undefined) {
      add(
        'ERR_MANIFEST_INVALID',
        at,
        `${show(pattern)} is not an ARN pattern`,
        'write arn:partition:service:region:account:resource',
      );
      continue;
    }
    if (hasWildcard(parsed.partition) || hasWildcard(parsed.service)) {
      add(
        'ERR_MANIFEST_INVALID',
        at,
        'the partition and service of an ARN pattern must be written out',
        `e.g. arn:${scope.rolePartition ?? 'aws'}:${service ?? 's3'}:…`,
      );
      continue;
    }
    if (!checkArnScope(parsed, at, scope, add)) continue;
    if (action !== undefined) {
      const services = new Set(action.resourceTypes.map((t) => parseArn(t.arn)?.service));
      if (!services.has(parsed.service)) {
        add(
          'ERR_MANIFEST_INVALID',
          at,
          `${show(pattern)} is a ${parsed.service} ARN; ${qualified} acts on ${[...services].join(', ')} resources`,
          `${qualified} accepts: ${accepts}`,
        );
      }
    }
  }

  const conditions = asObj(grant['conditions']);
  if (conditions?.['s3Prefix'] !== undefined && actionText !== 's3:ListBucket') {
    add(
      'ERR_MANIFEST_INVALID',
      `${path}/conditions/s3Prefix`,
      's3Prefix applies only to s3:ListBucket',
      'remove conditions.s3Prefix, or grant s3:ListBucket on the bucket',
    );
  }
  asArr(grant['allowHeaders']).forEach((h, j) => {
    if (typeof h === 'string' && SIGNING_HEADERS.has(h)) {
      add(
        'ERR_MANIFEST_INVALID',
        `${path}/allowHeaders/${j}`,
        `${h} belongs to SigV4 signing and body framing, which Errand does itself; the agent may never set it`,
        'remove it from allowHeaders',
      );
    }
  });
}

/** Partition and region of an ARN must be the manifest's; false when it reported a problem. */
function checkArnScope(
  arn: ReturnType<typeof parseArn> & object,
  at: string,
  scope: { region: string | undefined; rolePartition: string | undefined },
  add: Add,
): boolean {
  if (scope.rolePartition !== undefined && arn.partition !== scope.rolePartition) {
    add(
      'ERR_MANIFEST_INVALID',
      at,
      `the ARN is in partition ${show(arn.partition)} but the role is in ${show(scope.rolePartition)}`,
      `write arn:${scope.rolePartition}:…`,
    );
    return false;
  }
  if (
    scope.region !== undefined &&
    arn.region !== '' &&
    !hasWildcard(arn.region) &&
    arn.region !== scope.region
  ) {
    add(
      'ERR_MANIFEST_INVALID',
      at,
      `the ARN is in region ${show(arn.region)} but the manifest signs for ${show(scope.region)}`,
      'use a resource in aws.region, or a separate manifest for the other region',
    );
    return false;
  }
  return true;
}

function checkHttpGrant(grant: Obj, path: string, add: Add): void {
  const method = asStr(grant['method']);
  if (method === 'CONNECT') {
    add(
      'ERR_MANIFEST_INVALID',
      `${path}/method`,
      'CONNECT is not an HTTP grant',
      'list the host under http.passthrough',
    );
  } else if (method === 'TRACE' || method === 'TRACK') {
    add(
      'ERR_MANIFEST_INVALID',
      `${path}/method`,
      `${method} echoes the request, including injected secrets, back to the agent`,
      'remove the grant',
    );
  }
  const pattern = grant['urlPattern'] !== undefined && grant['url'] === undefined;
  const field = pattern ? 'urlPattern' : 'url';
  const url = asStr(grant[field]);
  if (url !== undefined) {
    for (const problem of checkGrantUrl(url, pattern)) {
      add('ERR_MANIFEST_INVALID', `${path}/${field}`, problem.message, problem.fix);
    }
    const plain = url.startsWith('http://');
    if (plain && grant['unsafeAllowPlainHttp'] !== true) {
      add(
        'ERR_MANIFEST_INVALID',
        `${path}/${field}`,
        'an http:// URL sends the request, and any injected secret, in clear text',
        'use https://, or set unsafeAllowPlainHttp: true if the server speaks only http',
      );
    } else if (!plain && grant['unsafeAllowPlainHttp'] === true) {
      add(
        'ERR_MANIFEST_INVALID',
        `${path}/unsafeAllowPlainHttp`,
        'unsafeAllowPlainHttp is set but the URL is https://',
        'remove unsafeAllowPlainHttp: an unsafe switch must be needed to be written',
      );
    }
  }
  if (grant['websocket'] === true && method !== undefined && method !== 'GET') {
    add(
      'ERR_MANIFEST_INVALID',
      `${path}/websocket`,
      `a WebSocket opening handshake is a GET (RFC 6455 §4.1), not ${method}`,
      'set method: GET',
    );
  }
  const inject = asObj(grant['inject']);
  const header = asStr(inject?.['header']);
  if (header !== undefined && UNINJECTABLE_HEADERS.has(header.toLowerCase())) {
    add(
      'ERR_MANIFEST_INVALID',
      `${path}/inject/header`,
      `${header} is a connection or framing header that Errand sets itself`,
      'inject an authentication header such as Authorization',
    );
  }
  const oauth = asObj(inject?.['oauth']);
  if (oauth !== undefined) {
    if (header !== undefined && inject?.['value'] === undefined) {
      add(
        'ERR_MANIFEST_INVALID',
        `${path}/inject/header`,
        'with inject.oauth, Errand sends the token in Authorization (and the DPoP proof in DPoP) itself',
        'remove inject.header',
      );
    }
    checkOAuth(oauth, `${path}/inject/oauth`, url, add);
  }
  const value = asStr(inject?.['value']);
  if (value !== undefined) {
    const names = [...value.matchAll(SECRET_PLACEHOLDER)].map((x) => x[1]!);
    const stray = value.replaceAll(SECRET_PLACEHOLDER, '').includes('${');
    if (names.length !== 1 || stray) {
      add(
        'ERR_MANIFEST_INVALID',
        `${path}/inject/value`,
        `inject.value must hold exactly one \${secret:NAME} placeholder and no other \${…}; it has ${names.length}`,
        `e.g. value: "Bearer \${secret:api-token}"`,
      );
    } else if (!SECRET_NAME.test(names[0]!)) {
      add(
        'ERR_MANIFEST_INVALID',
        `${path}/inject/value`,
        `secret name ${show(names[0])} is not valid`,
        'a secret name is 1-128 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit (a file name in the secrets directory)',
      );
    }
  }
}

/** The `inject.oauth` checks a schema cannot express: canonical URLs, the token's resource on the
 *  grant's own origin (a token for another API is not this grant's), bounded authorization details. */
function checkOAuth(oauth: Obj, path: string, grantUrl: string | undefined, add: Add): void {
  const tokenEndpoint = asStr(oauth['tokenEndpoint']);
  if (tokenEndpoint?.startsWith('https://')) {
    for (const problem of checkGrantUrl(tokenEndpoint, false)) {
      add('ERR_MANIFEST_INVALID', `${path}/tokenEndpoint`, problem.message, problem.fix);
    }
  }
  // RFC 8414 §2: an issuer identifier is an https URL with no query or fragment. It is compared
  // byte for byte by the server, so it is kept exactly as written (no canonical form is imposed).
  const issuer = asStr(oauth['issuer']);
  if (issuer?.startsWith('https://')) {
    const url = URL.canParse(issuer) ? new URL(issuer) : undefined;
    if (url === undefined || /[?#]/.test(issuer) || url.username !== '' || url.password !== '') {
      add(
        'ERR_MANIFEST_INVALID',
        `${path}/issuer`,
        'the issuer must be an https URL without user information, query or fragment (RFC 8414 section 2)',
        'write the issuer exactly as the authorization server publishes it',
      );
    }
  }
  // RFC 8707 §2: the resource is an absolute URI without a fragment; Errand also keeps it on the
  // grant's origin, so the token cannot be asked for on behalf of another API.
  const resource = asStr(oauth['resource']);
  if (resource !== undefined && /^https?:\/\//.test(resource)) {
    const problems = checkGrantUrl(resource, false);
    for (const problem of problems)
      add('ERR_MANIFEST_INVALID', `${path}/resource`, problem.message, problem.fix);
    const grantOrigin =
      grantUrl !== undefined && URL.canParse(grantUrl) ? new URL(grantUrl).origin : undefined;
    if (problems.length === 0 && grantOrigin !== undefined && new URL(resource).origin !== grantOrigin) {
      add(
        'ERR_MANIFEST_INVALID',
        `${path}/resource`,
        `the token would be for ${show(new URL(resource).origin)}, but the grant calls ${show(grantOrigin)}`,
        `use a resource on ${grantOrigin}, or leave resource out (it defaults to ${grantOrigin})`,
      );
    }
  }
  const details = oauth['authorizationDetails'];
  if (Array.isArray(details) && JSON.stringify(details).length > MAX_AUTHORIZATION_DETAILS_CHARS) {
    add(
      'ERR_MANIFEST_INVALID',
      `${path}/authorizationDetails`,
      `authorizationDetails is longer than ${MAX_AUTHORIZATION_DETAILS_CHARS} characters once serialized`,
      'ask for the details this one grant needs',
    );
  }
  const subject = asStr(oauth['subjectToken']);
  if (subject !== undefined && subject === asStr(oauth['actorToken'])) {
    add(
      'ERR_MANIFEST_INVALID',
      `${path}/actorToken`,
      "the actor token is Errand's own workload identity; it cannot be the user's subject token",
      'name the file that holds the workload identity token, or leave actorToken out',
    );
  }
  if (subject !== undefined && subject === asStr(oauth['clientKey'])) {
    add(
      'ERR_MANIFEST_INVALID',
      `${path}/clientKey`,
      "the client key is Errand's private key; it cannot be the user's subject token",
      'name the file that holds the private key',
    );
  }
}

const tokenTypeOf = (v: unknown, fallback: OAuthTokenType): OAuthTokenType =>
  v === 'access_token' || v === 'jwt' || v === 'id_token' ? v : fallback;

function buildOAuth(o: Obj, grantUrl: string): OAuthInject {
  const str = (key: string) => asStr(o[key]);
  const optional = <K extends string>(key: K, value: string | undefined) =>
    value !== undefined ? ({ [key]: value } as Record<K, string>) : {};
  const details = o['authorizationDetails'];
  return {
    tokenEndpoint: str('tokenEndpoint')!,
    ...optional('issuer', str('issuer')),
    clientId: str('clientId')!,
    clientKey: str('clientKey')!,
    subjectToken: str('subjectToken')!,
    subjectTokenType: tokenTypeOf(o['subjectTokenType'], 'access_token'),
    ...optional('actorToken', str('actorToken')),
    actorTokenType: tokenTypeOf(o['actorTokenType'], 'jwt'),
    ...optional('audience', str('audience')),
    resource: str('resource') ?? new URL(grantUrl).origin,
    ...optional('scope', str('scope')),
    ...(Array.isArray(details)
      ? { authorizationDetails: structuredClone(details) as Record<string, unknown>[] }
      : {}),
    dpop: o['dpop'] !== false,
  };
}

const usesOf = (v: unknown): Uses => (v === 'unlimited' ? 'unlimited' : typeof v === 'number' ? v : 1);
const listOf = (v: unknown): readonly string[] => (typeof v === 'string' ? [v] : (v as string[]));

/** Build the loaded form from a value that passed every check: defaults applied, lists normalized. */
function buildManifest(source: Obj): Manifest {
  const task = source['task'] as Obj;
  const user = task['user'] as Obj;
  const aws = asObj(source['aws']);
  const http = asObj(source['http']);
  const awsGrants = (g: Obj): AwsGrant => {
    const s3Prefix = asStr(asObj(g['conditions'])?.['s3Prefix']);
    return {
      id: g['id'] as string,
      action: g['action'] as string,
      resources: [...listOf(g['resource'] ?? g['broadResource'])],
      broad: g['broadResource'] !== undefined,
      uses: usesOf(g['uses']),
      conditions: s3Prefix !== undefined ? { s3Prefix } : {},
      allowHeaders: [...((g['allowHeaders'] as string[] | undefined) ?? [])],
      ...(typeof g['maxBodyBytes'] === 'number' ? { maxBodyBytes: g['maxBodyBytes'] } : {}),
    };
  };
  const httpGrants = (g: Obj): HttpGrant => {
    const inject = asObj(g['inject']);
    const value = asStr(inject?.['value']);
    const oauth = asObj(inject?.['oauth']);
    const url = (g['url'] ?? g['urlPattern']) as string;
    return {
      id: g['id'] as string,
      method: g['method'] as string,
      url,
      pattern: g['urlPattern'] !== undefined,
      uses: usesOf(g['uses']),
      ...(inject !== undefined && value !== undefined
        ? {
            inject: {
              header: inject['header'] as string,
              value,
              secret: [...value.matchAll(SECRET_PLACEHOLDER)][0]![1]!,
            },
          }
        : {}),
      ...(oauth !== undefined ? { oauth: buildOAuth(oauth, url) } : {}),
      websocket: g['websocket'] === true,
      unsafeAllowPlainHttp: g['unsafeAllowPlainHttp'] === true,
      unsafeAllowPrivateAddress: g['unsafeAllowPrivateAddress'] === true,
      ...(typeof g['maxBodyBytes'] === 'number' ? { maxBodyBytes: g['maxBodyBytes'] } : {}),
    };
  };
  const passthrough = (p: Obj): Passthrough => ({
    host: p['host'] as string,
    port: typeof p['port'] === 'number' ? p['port'] : 443,
  });
  return {
    apiVersion: 'errand.dev/v1',
    kind: 'TaskManifest',
    task: {
      id: task['id'] as string,
      purpose: task['purpose'] as string,
      user: { subject: user['subject'] as string, session: user['session'] as string },
      expiresAt: task['expiresAt'] as string,
    },
    ...(aws !== undefined
      ? {
          aws: {
            region: aws['region'] as string,
            roleArn: aws['roleArn'] as string,
            isolation: aws['isolation'] === 'grant' ? ('grant' as const) : ('task' as const),
            grants: (aws['grants'] as Obj[]).map(awsGrants),
          },
        }
      : {}),
    ...(http !== undefined
      ? {
          http: {
            grants: asArr(http['grants']).map((g) => httpGrants(g as Obj)),
            passthrough: asArr(http['passthrough']).map((p) => passthrough(p as Obj)),
          },
        }
      : {}),
  };
}
