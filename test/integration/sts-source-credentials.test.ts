// Errand's own credentials as a pod on EKS gets them, with no keys in its environment: IRSA (EKS IAM
// roles for service accounts: AWS_ROLE_ARN and a projected token in AWS_WEB_IDENTITY_TOKEN_FILE, which
// the SDK's default chain exchanges with AssumeRoleWithWebIdentity) and EKS Pod Identity (a local agent
// at AWS_CONTAINER_CREDENTIALS_FULL_URI, asked with the token in AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).
// Errand's AssumeRole for the task is signed with what they give, against the emulator with
// authentication on.
//
// AssumeRoleWithWebIdentity is an unsigned call, which the emulator cannot serve while it
// authenticates (it answers 500), so the test opens its allowance for exactly that one call
// (/moto-api/reset-auth) and nothing else; the emulator does not verify the token's signature
// (AWS does, against the cluster's OIDC issuer). The Pod Identity agent is a stand-in on loopback
// serving a web-identity session of the emulator. Everything Errand signs is authenticated.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createStsClient } from '../../src/credentials/sts-sessions.ts';
import { FIXTURES, fixtureObject, startMoto } from '../helpers/moto.ts';

const moto = await startMoto();
t.teardown(() => moto.stop());

/** Lets the next `n` calls through unauthenticated, then authentication is on again. */
const allowUnauthenticated = async (n: number) => {
  const r = await fetch(`${moto.endpoint}/moto-api/reset-auth`, { method: 'POST', body: String(n) });
  if (r.status !== 200) throw new Error(`reset-auth answered ${r.status}`);
};

const iamCall = (action: string, params: Record<string, string>) =>
  moto.call(moto.directCredentials, {
    service: 'iam',
    method: 'POST',
    path: '/',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: new URLSearchParams({ Action: action, Version: '2010-05-08', ...params }).toString(),
  });
const policy = (statements: unknown[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const STS_ACTIONS = ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'];

// The service account's roles: one allowed to assume the task role, one allowed only another; and
// a task role that trusts the first's session (the emulator checks trust policies too, but matches
// the principal literally: AWS would also accept the role ARN itself).
const arn = (name: string) => `arn:aws:iam::${moto.accountId}:role/${name}`;
const oidc = `arn:aws:iam::${moto.accountId}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE`;
const IRSA_ROLES = [
  ['errand-irsa', arn('errand-irsa-task')],
  ['errand-irsa-elsewhere', arn('some-other-role')],
] as const;
await allowUnauthenticated(2 * IRSA_ROLES.length + 2);
for (const [name, resource] of IRSA_ROLES) {
  await iamCall('CreateRole', {
    RoleName: name,
    AssumeRolePolicyDocument: policy([
      { Effect: 'Allow', Principal: { Federated: oidc }, Action: 'sts:AssumeRoleWithWebIdentity' },
    ]),
  });
  await iamCall('PutRolePolicy', {
    RoleName: name,
    PolicyName: 'assume-task',
    PolicyDocument: policy([{ Effect: 'Allow', Action: STS_ACTIONS, Resource: resource }]),
  });
}
await iamCall('CreateRole', {
  RoleName: 'errand-irsa-task',
  AssumeRolePolicyDocument: policy([
    {
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:sts::${moto.accountId}:assumed-role/errand-irsa/errand` },
      Action: STS_ACTIONS,
    },
  ]),
});
await iamCall('PutRolePolicy', {
  RoleName: 'errand-irsa-task',
  PolicyName: 'read',
  PolicyDocument: policy([{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }]),
});
const TASK_ROLE = arn('errand-irsa-task');

// A service-account token as the kubelet projects it (the emulator does not check its signature).
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const iat = Math.floor(Date.now() / 1000);
const tokenFile = join(mkdtempSync(join(tmpdir(), 'errand-irsa-')), 'token');
writeFileSync(
  tokenFile,
  `${b64({ alg: 'RS256', kid: 'k1' })}.${b64({
    iss: 'https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE',
    sub: 'system:serviceaccount:agents:errand',
    aud: ['sts.amazonaws.com'],
    iat,
    exp: iat + 3600,
  })}.c2lnbmF0dXJl`,
);

const irsaEnv = (roleArn: string): Record<string, string> => ({
  AWS_ROLE_ARN: roleArn,
  AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
  AWS_ROLE_SESSION_NAME: 'errand',
  AWS_REGION: moto.region,
  AWS_ENDPOINT_URL_STS: moto.endpoint,
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: '/nonexistent',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
});

// The SDK's chain reads process.env itself: Errand's environment holds these variables only.
const assumeTaskRole = (env: Record<string, string>) => {
  for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
  Object.assign(process.env, env);
  return createStsClient(moto.region, env).assumeRole({
    RoleArn: TASK_ROLE,
    RoleSessionName: 'tsk_01JD8Q7ZK3',
    DurationSeconds: 900,
    Policy: policy([
      { Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${FIXTURES.bucket}/*` },
    ]),
    SourceIdentity: 'alice@example.com',
    Tags: [{ Key: 'errand-task', Value: 'tsk_01JD8Q7ZK3' }],
  });
};

t.test('IRSA: the task session is minted with the web-identity session and reads the object', async (t) => {
  await allowUnauthenticated(1); // the SDK's AssumeRoleWithWebIdentity, nothing more
  const result = await assumeTaskRole(irsaEnv(arn('errand-irsa')));
  const c = result.Credentials;
  t.match(c?.AccessKeyId, /^ASIA/, 'temporary credentials');
  const key = FIXTURES.objectKeys[0] ?? '';
  const got = await moto.call(
    {
      accessKeyId: c?.AccessKeyId ?? '',
      secretAccessKey: c?.SecretAccessKey ?? '',
      sessionToken: c?.SessionToken ?? '',
    },
    { service: 's3', method: 'GET', path: `/${FIXTURES.bucket}/${key}` },
  );
  t.equal(got.status, 200, got.text.slice(0, 200));
  t.ok(got.body.equals(fixtureObject(key)), 'the exact bytes');
});

t.test('IRSA: a web-identity role not allowed to assume the task role is refused by STS', async (t) => {
  await allowUnauthenticated(1);
  await t.rejects(assumeTaskRole(irsaEnv(arn('errand-irsa-elsewhere'))), {
    name: 'AccessDenied',
    $metadata: { httpStatusCode: 403 },
  });
});

t.test('authentication is on for what Errand signs: unknown keys are refused', async (t) => {
  const r = await moto.call(
    { accessKeyId: 'ASIAERRANDUNKNOWN000', secretAccessKey: 'x', sessionToken: 'y' },
    { service: 's3', method: 'GET', path: `/${FIXTURES.bucket}/${FIXTURES.objectKeys[0]}` },
  );
  t.equal(r.status, 403);
});

t.test('EKS Pod Identity: the task session is minted with the agent-served credentials', async (t) => {
  // The pod's role session, as the Pod Identity agent would hold it.
  await allowUnauthenticated(1);
  const answer = await fetch(`${moto.endpoint}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: arn('errand-irsa'),
      RoleSessionName: 'errand',
      WebIdentityToken: 'token-of-the-agent',
    }),
  }).then((r) => r.text());
  const field = (tag: string) => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(answer)?.[1] ?? '';
  const podToken = 'pod-identity-token-0123456789';
  const asked: (string | undefined)[] = [];
  const agent = createServer((req, res) => {
    asked.push(req.headers.authorization);
    if (req.url !== '/v1/credentials' || req.headers.authorization !== podToken) {
      res.writeHead(401).end();
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        AccessKeyId: field('AccessKeyId'),
        SecretAccessKey: field('SecretAccessKey'),
        Token: field('SessionToken'),
        Expiration: field('Expiration'),
      }),
    );
  });
  await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => agent.close());
  const tokenDir = mkdtempSync(join(tmpdir(), 'errand-pod-identity-'));
  writeFileSync(join(tokenDir, 'token'), podToken);
  const result = await assumeTaskRole({
    AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${(agent.address() as AddressInfo).port}/v1/credentials`,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: join(tokenDir, 'token'),
    AWS_REGION: moto.region,
    AWS_ENDPOINT_URL_STS: moto.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
  });
  t.same(asked, [podToken], 'the agent was asked once, with the pod token');
  t.match(result.Credentials?.AccessKeyId, /^ASIA/);
  t.not(result.Credentials?.AccessKeyId, field('AccessKeyId'), 'a new session, not the pod role');
});
