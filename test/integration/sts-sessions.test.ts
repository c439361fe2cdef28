// STS sessions and the signer against the emulator, with authentication on: Errand's source
// credentials come from the environment through the SDK's default chain, the STS endpoint from
// AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL (read by the SDK itself), and the minted session signs real
// S3 requests, aws-chunked uploads included. What moto cannot prove (session policy, expiry, chunk
// signatures) is covered by the unit tests; see docs/testing.md.

import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import t from 'tap';
import { request } from 'undici';
import {
  awsChunkedEncodedLength,
  DEFAULT_CHUNK_SIZE,
  encodeAwsChunked,
} from '../../src/credentials/aws-chunked.ts';
import { awsEncodeS3Key, type SignAwsInput, signAwsRequest } from '../../src/credentials/sign-aws.ts';
import {
  type AssumeRoleParameters,
  createStsClient,
  type RetryPolicy,
  type SessionKey,
  StsSessions,
  type TaskSession,
} from '../../src/credentials/sts-sessions.ts';
import { FIXTURES, fixtureObject, sha256Hex, startMoto } from '../helpers/moto.ts';

const moto = await startMoto();
t.teardown(() => moto.stop());
const { hostname, port } = new URL(moto.endpoint);

// Errand's own environment, as a pod would give it: source keys, region, the emulator as STS.
for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
Object.assign(process.env, {
  AWS_ACCESS_KEY_ID: moto.sourceCredentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: moto.sourceCredentials.secretAccessKey,
  AWS_REGION: moto.region,
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: '/nonexistent',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
});

const parametersFor =
  (roleArn: string) =>
  (key: SessionKey): AssumeRoleParameters => ({
    RoleArn: roleArn,
    RoleSessionName: key === 'task' ? 'tsk_01JD8Q7ZK3' : `tsk_01JD8Q7ZK3.${key.slice('grant:'.length)}`,
    DurationSeconds: 900,
    Policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:PutObject'],
          Resource: `arn:aws:s3:::${FIXTURES.bucket}/*`,
        },
      ],
    }),
    SourceIdentity: 'alice@example.com',
    Tags: [
      { Key: 'errand-task', Value: 'tsk_01JD8Q7ZK3' },
      { Key: 'errand-user', Value: 'alice@example.com' },
    ],
  });

const newSessions = (over: { roleArn?: string; isolation?: 'task' | 'grant'; retry?: RetryPolicy } = {}) =>
  new StsSessions({
    isolation: over.isolation ?? 'task',
    deadlineMs: Date.now() + 10 * 60_000,
    grantIds: ['read-report', 'write-output'],
    parametersFor: parametersFor(over.roleArn ?? moto.roleArn),
    client: createStsClient(moto.region),
    ...(over.retry ? { retry: over.retry } : {}),
  });

const send = async (
  session: TaskSession,
  input: Pick<SignAwsInput, 'method' | 'path' | 'query' | 'headers' | 'payloadHash'>,
) => {
  const signed = signAwsRequest({
    ...input,
    protocol: 'http:',
    hostname,
    port: Number(port),
    service: 's3',
    region: moto.region,
    credentials: session.credentials,
    signingKeys: session.signingKeys,
    now: new Date(),
  });
  const url = `${moto.endpoint}${signed.path}${signed.querystring ? `?${signed.querystring}` : ''}`;
  const res = await request(url, { method: 'GET', headers: signed.headers });
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()), signed };
};

t.test('AWS_ENDPOINT_URL_STS: a real session is minted and signs an S3 read', async (t) => {
  process.env['AWS_ENDPOINT_URL_STS'] = moto.endpoint;
  t.teardown(() => delete process.env['AWS_ENDPOINT_URL_STS']);
  const sessions = newSessions();
  t.teardown(() => sessions.wipe());
  await sessions.start();
  const status = sessions.status();
  t.equal(status.state, 'ready');
  t.ok(Date.parse(status.expiresAt!) > Date.now(), 'the session expiry is reported');
  const session = await sessions.sessionFor(['read-report']);
  t.match(session.credentials.accessKeyId, /^ASIA/, 'an STS session key, not the source key');
  t.not(session.credentials.accessKeyId, moto.sourceCredentials.accessKeyId);

  const got = await send(session, {
    method: 'GET',
    path: `/${FIXTURES.bucket}/${awsEncodeS3Key('users/alice/report.pdf')}`,
    query: [],
    headers: {},
    payloadHash: sha256Hex(''),
  });
  t.equal(got.status, 200, 'GetObject signed with the session');
  t.ok(got.body.equals(fixtureObject('users/alice/report.pdf')), 'the fixture bytes');

  // Without its token the session key is refused: what was signed includes the token.
  const { 'x-amz-security-token': _token, ...withoutToken } = got.signed.headers;
  const refused = await request(`${moto.endpoint}${got.signed.path}`, { headers: withoutToken });
  t.equal(refused.statusCode, 403);
  await refused.body.dump();
});

t.test('AWS_ENDPOINT_URL alone also reaches the emulator (isolation: grant)', async (t) => {
  process.env['AWS_ENDPOINT_URL'] = moto.endpoint;
  t.teardown(() => delete process.env['AWS_ENDPOINT_URL']);
  const sessions = newSessions({ isolation: 'grant' });
  t.teardown(() => sessions.wipe());
  await sessions.start();
  const a = await sessions.sessionFor(['read-report']);
  const b = await sessions.sessionFor(['write-output']);
  t.not(a.credentials.accessKeyId, b.credentials.accessKeyId, 'one session per grant');
  t.equal(sessions.status().sessions.length, 2);
  sessions.drop('grant:read-report');
  t.notOk(sessions.secrets().includes(a.credentials.secretAccessKey));
  await t.rejects(sessions.sessionFor(['read-report']), { code: 'ERR_CREDENTIALS_SESSION' });
});

t.test('aws-chunked uploads re-framed and signed by Errand are stored as the plain bytes', async (t) => {
  process.env['AWS_ENDPOINT_URL_STS'] = moto.endpoint;
  t.teardown(() => delete process.env['AWS_ENDPOINT_URL_STS']);
  const sessions = newSessions();
  t.teardown(() => sessions.wipe());
  await sessions.start();
  const session = await sessions.sessionFor(['write-output']);
  const data = Buffer.from(Array.from({ length: DEFAULT_CHUNK_SIZE * 2 + 1234 }, (_, i) => (i * 7) % 256));
  const checksum = Buffer.alloc(4);
  checksum.writeUInt32BE(crc32(data));
  const trailers = [{ name: 'x-amz-checksum-crc32', value: checksum.toString('base64') }];

  for (const [name, trailer] of [
    ['signed chunks', false],
    ['signed chunks and a signed checksum trailer', true],
  ] as const) {
    const key = `out/chunked ${trailer ? 'trailer' : 'plain'}.bin`;
    const trailerNames = trailer ? ['x-amz-checksum-crc32'] : [];
    const headers: Record<string, string> = {
      'content-encoding': 'aws-chunked',
      'content-length': String(
        awsChunkedEncodedLength({ decodedLength: data.length, signed: true, trailerNames }),
      ),
      'x-amz-decoded-content-length': String(data.length),
      ...(trailer ? { 'x-amz-trailer': 'x-amz-checksum-crc32' } : {}),
    };
    const payloadHash = trailer
      ? 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
      : 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
    const signed = signAwsRequest({
      method: 'PUT',
      protocol: 'http:',
      hostname,
      port: Number(port),
      path: `/${FIXTURES.bucket}/${awsEncodeS3Key(key)}`,
      query: [],
      headers,
      service: 's3',
      region: moto.region,
      payloadHash,
      credentials: session.credentials,
      signingKeys: session.signingKeys,
      now: new Date(),
    });
    async function* source() {
      yield data.subarray(0, 1000);
      yield data.subarray(1000);
    }
    const body = encodeAwsChunked(source(), {
      decodedLength: data.length,
      signing: signed.chunkSigning!,
      trailerNames,
      trailers: () => (trailer ? trailers : []),
    });
    const put = await request(`${moto.endpoint}${signed.path}`, {
      method: 'PUT',
      headers: signed.headers,
      body: Readable.from(body),
    });
    const putText = await put.body.text();
    t.equal(put.statusCode, 200, `${name}: stored (${putText.slice(0, 200)})`);

    const got = await send(session, {
      method: 'GET',
      path: signed.path,
      query: [],
      headers: {},
      payloadHash: sha256Hex(''),
    });
    t.equal(got.status, 200);
    t.ok(got.body.equals(data), `${name}: the decoded bytes, not the framing`);
  }
});

t.test('STS refusals and outages leave a not-ready state with a clear, secret-free reason', async (t) => {
  process.env['AWS_ENDPOINT_URL_STS'] = moto.endpoint;
  t.teardown(() => delete process.env['AWS_ENDPOINT_URL_STS']);
  const denied = newSessions({ roleArn: `arn:aws:iam::${moto.accountId}:role/not-trusting-errand` });
  t.teardown(() => denied.wipe());
  const error = await denied.start().then(
    () => undefined,
    (e: unknown) => e as { code: string; message: string },
  );
  t.ok(error, 'AssumeRole of a role that does not trust Errand fails');
  t.equal(error?.code, 'ERR_STS_ACCESS_DENIED');
  t.equal(error?.message, 'STS refused to let Errand assume the task role: AccessDenied (HTTP 403)');
  const status = denied.status();
  t.equal(status.state, 'not-ready');
  t.equal(status.lastError?.code, error?.code);
  t.notMatch(
    JSON.stringify(status),
    new RegExp(moto.sourceCredentials.secretAccessKey.replace(/[/+]/g, '.')),
  );

  process.env['AWS_ENDPOINT_URL_STS'] = 'http://127.0.0.1:9';
  const down = newSessions({ retry: { attempts: 3, baseMs: 10, capMs: 20, cooldownMs: 60_000 } });
  t.teardown(() => down.wipe());
  await t.rejects(down.start(), {
    code: 'ERR_STS_UNREACHABLE',
    message: /^STS cannot be reached: ECONNREFUSED$/,
  });
  t.equal(down.status().state, 'not-ready');
  await t.rejects(down.sessionFor(['read-report']), {
    code: 'ERR_CREDENTIALS_NOT_READY',
    message: /ERR_STS_UNREACHABLE/,
  });
});
