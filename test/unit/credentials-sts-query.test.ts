// AssumeRole over STS's query API: the endpoint, the form body, the strict reading of the answer,
// and the call itself against a local HTTP server standing in for STS (127.0.0.1), with every
// failure mapped to the code classifyStsError gives it. The emulator tests (sts-sessions,
// faults-sts, errand-run) check that a real STS implementation accepts the signed call.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import {
  assumeRoleBody,
  createStsQueryClient,
  parseAssumeRoleResponse,
  StsQueryError,
  stsEndpoint,
} from '../../src/credentials/sts-query.ts';
import { type AssumeRoleParameters, classifyStsError } from '../../src/credentials/sts-sessions.ts';

const PARAMS: AssumeRoleParameters = {
  RoleArn: 'arn:aws:iam::123456789012:role/errand-task',
  RoleSessionName: 'tsk_1',
  DurationSeconds: 900,
  Policy: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}',
  SourceIdentity: 'alice@example.com',
  Tags: [
    { Key: 'errand:task', Value: 'tsk_1' },
    { Key: 'errand:user', Value: 'alice+x@example.com' },
  ],
};

const ok = (expiration = '2026-11-29T20:00:00Z', token = 'FwoGZXIvYXdzE&amp;token') => `<?xml version="1.0"?>
<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>alice@example.com</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/errand-task/tsk_1</Arn>
      <AssumedRoleId>AROAEXAMPLE:tsk_1</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLE000000001</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>
      <SessionToken>${token}</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe</RequestId></ResponseMetadata>
</AssumeRoleResponse>`;

t.test('the endpoint: STS-specific override, then the general one, then the regional endpoint', async (t) => {
  const cases: [string, Record<string, string>, string][] = [
    ['us-east-1', {}, 'https://sts.us-east-1.amazonaws.com/'],
    ['eu-central-2', {}, 'https://sts.eu-central-2.amazonaws.com/'],
    ['cn-north-1', {}, 'https://sts.cn-north-1.amazonaws.com.cn/'],
    ['us-gov-west-1', {}, 'https://sts.us-gov-west-1.amazonaws.com/'],
    ['us-east-1', { AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' }, 'http://127.0.0.1:5000/'],
    [
      'us-east-1',
      { AWS_ENDPOINT_URL: 'http://127.0.0.1:5000', AWS_ENDPOINT_URL_STS: 'https://sts.internal:8443' },
      'https://sts.internal:8443/',
    ],
  ];
  for (const [region, env, want] of cases)
    t.equal(stsEndpoint(region, env).href, want, `${region} ${JSON.stringify(env)}`);
  t.throws(() => stsEndpoint('us-east-1', { AWS_ENDPOINT_URL_STS: 'ftp://x' }), /ftp: is not http or https/);
  t.throws(() => stsEndpoint('sts.evil.example/x', {}), /is not an AWS region/);
});

t.test('the form body: every parameter, tags numbered from 1, RFC 3986 encoded', async (t) => {
  const body = assumeRoleBody(PARAMS);
  const form = new URLSearchParams(body);
  t.same(
    [...form.entries()],
    [
      ['Action', 'AssumeRole'],
      ['Version', '2011-06-15'],
      ['RoleArn', PARAMS.RoleArn],
      ['RoleSessionName', 'tsk_1'],
      ['DurationSeconds', '900'],
      ['Policy', PARAMS.Policy],
      ['SourceIdentity', 'alice@example.com'],
      ['Tags.member.1.Key', 'errand:task'],
      ['Tags.member.1.Value', 'tsk_1'],
      ['Tags.member.2.Key', 'errand:user'],
      ['Tags.member.2.Value', 'alice+x@example.com'],
    ],
    'a form decoder reads back exactly the parameters',
  );
  t.match(body, /Tags\.member\.2\.Value=alice%2Bx%40example\.com/, "'+' is encoded, never read as a space");
  t.notMatch(body, /[{}":\s]/, 'no raw JSON punctuation or space in the body');
});

t.test('reading the answer strictly', async (t) => {
  const good = parseAssumeRoleResponse(ok());
  t.same(good, {
    Credentials: {
      AccessKeyId: 'ASIAEXAMPLE000000001',
      SecretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      SessionToken: 'FwoGZXIvYXdzE&token',
      Expiration: new Date('2026-11-29T20:00:00Z'),
    },
    AssumedRoleUser: { Arn: 'arn:aws:sts::123456789012:assumed-role/errand-task/tsk_1' },
  });
  t.same(
    parseAssumeRoleResponse(ok('2026-11-29T20:00:00.000+01:00'))?.Credentials?.Expiration,
    new Date('2026-11-29T19:00:00Z'),
  );
  t.equal(
    parseAssumeRoleResponse(ok(undefined, '&#x41;&#66;'))?.Credentials?.SessionToken,
    'AB',
    'character references',
  );
  const refused: [string, string][] = [
    ['no zone on the expiry (local time would shift it)', ok('2026-11-29T20:00:00')],
    ['an expiry that is not a date', ok('tomorrow')],
    ['an unknown entity', ok(undefined, 'a&nbsp;b')],
    ['a bare ampersand', ok(undefined, 'a&b')],
    ['a code point past Unicode', ok(undefined, '&#x110000;')],
    ['an element inside the token', ok(undefined, 'a<b>c</b>')],
    ['no session token', ok().replace(/<SessionToken>.*<\/SessionToken>/, '')],
    ['an empty access key id', ok().replace(/<AccessKeyId>.*<\/AccessKeyId>/, '<AccessKeyId></AccessKeyId>')],
    [
      'two access key ids',
      ok().replace('<AccessKeyId>', '<AccessKeyId>ASIAOTHER</AccessKeyId>\n      <AccessKeyId>'),
    ],
    [
      'two Credentials elements',
      ok().replace('</AssumeRoleResult>', '<Credentials></Credentials></AssumeRoleResult>'),
    ],
    ['another action', ok().replaceAll('AssumeRoleResponse', 'GetSessionTokenResponse')],
    ['not XML', '{"Credentials":{}}'],
    ['empty', ''],
  ];
  for (const [why, xml] of refused) t.equal(parseAssumeRoleResponse(xml), undefined, why);
});

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

async function stsStandIn(
  t: Test,
  handler: Handler,
): Promise<{ url: string; seen: { req: IncomingMessage; body: string }[] }> {
  const seen: { req: IncomingMessage; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      seen.push({ req, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const SOURCE = {
  accessKeyId: 'AKIASOURCE0000000001',
  secretAccessKey: 'sourceSecretKey/0123456789abcdefghijklmno',
  sessionToken: 'sourceSessionToken',
};
const NOW = Date.parse('2026-11-29T19:00:00Z');

const clientFor = (url: string, timeoutMs = 2000) =>
  createStsQueryClient({
    region: 'us-east-1',
    env: { AWS_ENDPOINT_URL_STS: url },
    credentials: async () => SOURCE,
    now: () => NOW,
    connectTimeoutMs: timeoutMs,
    requestTimeoutMs: timeoutMs,
  });

t.test('the call: one signed POST, the credentials read back', async (t) => {
  const sts = await stsStandIn(t, (_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(ok());
  });
  const client = clientFor(sts.url);
  const got = await client.assumeRole(PARAMS);
  t.equal(got.Credentials?.AccessKeyId, 'ASIAEXAMPLE000000001');
  t.equal(sts.seen.length, 1, 'one call');
  const { req, body } = sts.seen[0]!;
  t.equal(req.method, 'POST');
  t.equal(req.url, '/');
  t.equal(body, assumeRoleBody(PARAMS), 'the body is the form of the parameters');
  t.equal(req.headers['content-type'], 'application/x-www-form-urlencoded; charset=utf-8');
  t.equal(req.headers['x-amz-date'], '20261129T190000Z', 'signed at the injected clock');
  t.equal(req.headers['x-amz-security-token'], 'sourceSessionToken', "Errand's own session token is sent");
  t.match(
    req.headers['authorization'],
    /^AWS4-HMAC-SHA256 Credential=AKIASOURCE0000000001\/20261129\/us-east-1\/sts\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    'signed for sts in the region, the body hash and content type included',
  );
  t.notMatch(JSON.stringify(req.headers), /sourceSecretKey/, 'the secret key is never sent');
});

t.test('failures: the STS code and status only, classified as the session owner expects', async (t) => {
  const cases: {
    why: string;
    status: number;
    body: string;
    name: string;
    code: string;
    retryable: boolean;
  }[] = [
    {
      why: 'AccessDenied',
      status: 403,
      body: '<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User arn:aws:iam::123456789012:user/x is not authorized</Message></Error></ErrorResponse>',
      name: 'AccessDenied',
      code: 'ERR_STS_ACCESS_DENIED',
      retryable: false,
    },
    {
      why: 'throttled',
      status: 400,
      body: '<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>',
      name: 'Throttling',
      code: 'ERR_STS_THROTTLED',
      retryable: true,
    },
    {
      why: 'a policy too large',
      status: 400,
      body: '<ErrorResponse><Error><Code>PackedPolicyTooLarge</Code></Error></ErrorResponse>',
      name: 'PackedPolicyTooLarge',
      code: 'ERR_STS_POLICY_TOO_LARGE',
      retryable: false,
    },
    {
      why: 'a server error without a body',
      status: 503,
      body: '',
      name: 'UnknownError',
      code: 'ERR_STS_FAILED',
      retryable: true,
    },
    {
      why: 'an error code that is not an identifier',
      status: 400,
      body: '<ErrorResponse><Error><Code>arn:aws:iam::1:role/x</Code></Error></ErrorResponse>',
      name: 'UnknownError',
      code: 'ERR_STS_FAILED',
      retryable: false,
    },
    {
      why: 'a 200 that is not an AssumeRole answer',
      status: 200,
      body: '<html>captive portal</html>',
      name: 'MalformedResponse',
      code: 'ERR_STS_FAILED',
      retryable: false,
    },
    {
      why: 'an answer far larger than STS sends',
      status: 200,
      body: `<AssumeRoleResponse>${'x'.repeat(100_000)}</AssumeRoleResponse>`,
      name: 'ResponseTooLarge',
      code: 'ERR_STS_FAILED',
      retryable: false,
    },
  ];
  for (const c of cases) {
    const sts = await stsStandIn(t, (_req, _body, res) => {
      res.writeHead(c.status, { 'content-type': 'text/xml' });
      res.end(c.body);
    });
    const client = clientFor(sts.url);
    const error = await client.assumeRole(PARAMS).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(error instanceof StsQueryError, `${c.why}: an StsQueryError`);
    t.equal((error as StsQueryError).name, c.name, `${c.why}: named by the STS code`);
    t.notMatch(
      (error as Error).message,
      /not authorized|arn:|captive|xxxx/,
      `${c.why}: no STS text in the error`,
    );
    t.same(
      classifyStsError(error),
      { code: c.code, retryable: c.retryable, detail: `${c.name} (HTTP ${c.status})` },
      `${c.why}: classified`,
    );
  }
});

t.test('no answer: refused connection and timeout are "unreachable", retryable', async (t) => {
  const closed = await stsStandIn(t, () => undefined);
  const port = new URL(closed.url).port;
  // A port nothing listens on: bind one, close it, call it.
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const deadPort = (dead.address() as AddressInfo).port;
  await new Promise((r) => dead.close(r));
  const refusedClient = clientFor(`http://127.0.0.1:${deadPort}`);
  const refused = await refusedClient.assumeRole(PARAMS).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.same(classifyStsError(refused), { code: 'ERR_STS_UNREACHABLE', retryable: true, detail: 'ECONNREFUSED' });

  // The stand-in above never answers: the request timeout ends the call.
  const slow = clientFor(`http://127.0.0.1:${port}`, 200);
  const timedOut = await slow.assumeRole(PARAMS).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.same(classifyStsError(timedOut), {
    code: 'ERR_STS_UNREACHABLE',
    retryable: true,
    detail: 'TimeoutError',
  });

  // Aborted by the session owner (wipe): the call ends at once.
  const hung = clientFor(`http://127.0.0.1:${port}`, 5000);
  const abort = new AbortController();
  const pending = hung.assumeRole(PARAMS, { abortSignal: abort.signal }).then(
    () => 'answered',
    () => 'aborted',
  );
  abort.abort();
  t.equal(await pending, 'aborted');
});
