// The emulator harness, and what moto 5 enforces with authentication on. Each row pins one finding of
// docs/testing.md, so a moto upgrade that changes what the suite can prove fails here first.

import { spawn } from 'node:child_process';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import t from 'tap';
import {
  type AwsCall,
  type AwsCredentials,
  callAws,
  FIXTURES,
  fixtureObject,
  type Moto,
  REPO_ROOT,
  sha256Hex,
  startMoto,
  xmlValue,
} from '../helpers/moto.ts';
import { canConnect } from '../helpers/ports.ts';
import { PLACEHOLDER_CREDENTIALS } from '../helpers/real-clients.ts';

const moto = await startMoto();
t.teardown(() => moto.stop());
t.comment(`moto ready in ${moto.startupMs} ms at ${moto.endpoint}`);

const whoAmI: AwsCall = {
  service: 'sts',
  method: 'POST',
  path: '/',
  headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
  body: 'Action=GetCallerIdentity&Version=2011-06-15',
};
const getReport: AwsCall = {
  service: 's3',
  method: 'GET',
  path: `/${FIXTURES.bucket}/users/alice/report.pdf`,
};
const getBobSecret: AwsCall = {
  service: 's3',
  method: 'GET',
  path: `/${FIXTURES.bucket}/users/bob/secret.txt`,
};
const getTaskItem: AwsCall = {
  service: 'dynamodb',
  method: 'POST',
  path: '/',
  headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' },
  body: JSON.stringify({ TableName: FIXTURES.table, Key: { id: FIXTURES.item.id } }),
};

/** `text` with its last `n` characters replaced by others: always a different string (a fixed
 *  replacement would leave a secret that already ends in it unchanged, one run in 64). */
function altered(text: string, n: number): string {
  const tail = text.slice(-n);
  return `${text.slice(0, -n)}${tail === 'A'.repeat(n) ? 'B'.repeat(n) : 'A'.repeat(n)}`;
}

function wrongSecret(credentials: AwsCredentials): AwsCredentials {
  return { ...credentials, secretAccessKey: altered(credentials.secretAccessKey, 1) };
}

/** The AWS error code in a moto error body (XML for query/REST services, also for JSON ones here). */
function errorCode(text: string): string | undefined {
  return xmlValue(text, 'Code') ?? (JSON.parse(text || '{}') as { __type?: string }).__type;
}

t.test('the harness describes a usable emulator', async (t) => {
  t.match(moto.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.equal(moto.region, 'us-east-1');
  t.match(moto.accountId, /^\d{12}$/);
  t.equal(moto.roleArn, `arn:aws:iam::${moto.accountId}:role/errand-task`);
  t.equal(moto.sourceUserArn, `arn:aws:iam::${moto.accountId}:user/errand-source`);
  t.match(moto.sourceCredentials.accessKeyId, /^AKIA[A-Z0-9]{16}$/);
  t.not(moto.sourceCredentials.accessKeyId, moto.directCredentials.accessKeyId);
  t.equal(moto.queueUrl, `${moto.endpoint}/${moto.accountId}/${FIXTURES.queue}`);
  t.same(moto.env(), {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: moto.sourceCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.sourceCredentials.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  t.equal(moto.env({ ...PLACEHOLDER_CREDENTIALS, sessionToken: 'tok' })['AWS_SESSION_TOKEN'], 'tok');
});

t.test('the fixtures are in place, byte for byte', async (t) => {
  for (const key of FIXTURES.objectKeys) {
    const got = await moto.call(moto.directCredentials, {
      service: 's3',
      method: 'GET',
      path: `/${FIXTURES.bucket}/${key}`,
    });
    t.equal(got.status, 200, key);
    t.equal(sha256Hex(got.body), sha256Hex(fixtureObject(key)), `${key} bytes`);
  }
  const item = await moto.call(moto.directCredentials, getTaskItem);
  t.equal(item.status, 200);
  t.same(JSON.parse(item.text), { Item: FIXTURES.item });
  const queue = await moto.call(moto.directCredentials, {
    service: 'sqs',
    method: 'POST',
    path: '/',
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.GetQueueUrl' },
    body: JSON.stringify({ QueueName: FIXTURES.queue }),
  });
  t.equal(queue.status, 200);
  t.same(JSON.parse(queue.text), { QueueUrl: moto.queueUrl });
});

// Authentication: the rows that let the suite fail. A signature made with the wrong secret, or a key
// moto does not know, must be refused whatever the service.
const authRows: {
  name: string;
  credentials: () => AwsCredentials;
  call: AwsCall;
  status: number;
  code?: string;
}[] = [
  {
    name: 'STS, source key, right secret',
    credentials: () => moto.sourceCredentials,
    call: whoAmI,
    status: 200,
  },
  {
    name: 'STS, source key, wrong secret',
    credentials: () => wrongSecret(moto.sourceCredentials),
    call: whoAmI,
    status: 403,
    code: 'SignatureDoesNotMatch',
  },
  {
    name: 'STS, unknown access key',
    credentials: () => PLACEHOLDER_CREDENTIALS,
    call: whoAmI,
    status: 403,
    code: 'InvalidClientTokenId',
  },
  {
    name: 'S3, direct key, right secret',
    credentials: () => moto.directCredentials,
    call: getReport,
    status: 200,
  },
  {
    name: 'S3, direct key, wrong secret',
    credentials: () => wrongSecret(moto.directCredentials),
    call: getReport,
    status: 403,
    code: 'SignatureDoesNotMatch',
  },
  {
    name: 'S3, unknown access key',
    credentials: () => PLACEHOLDER_CREDENTIALS,
    call: getReport,
    status: 403,
    code: 'InvalidAccessKeyId',
  },
  {
    name: 'DynamoDB, direct key, right secret',
    credentials: () => moto.directCredentials,
    call: getTaskItem,
    status: 200,
  },
  {
    name: 'DynamoDB, direct key, wrong secret',
    credentials: () => wrongSecret(moto.directCredentials),
    call: getTaskItem,
    status: 403,
    code: 'SignatureDoesNotMatch',
  },
  {
    name: 'DynamoDB, unknown access key',
    credentials: () => PLACEHOLDER_CREDENTIALS,
    call: getTaskItem,
    status: 403,
    code: 'InvalidClientTokenId',
  },
  // Identity policies are evaluated: the source user may only assume the role.
  {
    name: 'S3, source key (no S3 permission)',
    credentials: () => moto.sourceCredentials,
    call: getReport,
    status: 403,
    code: 'AccessDenied',
  },
  {
    name: 'DynamoDB, source key (no DynamoDB permission)',
    credentials: () => moto.sourceCredentials,
    call: getTaskItem,
    status: 403,
    code: 'AccessDenied',
  },
];

t.test('moto checks signatures, access keys and identity policies', async (t) => {
  for (const row of authRows) {
    const got = await moto.call(row.credentials(), row.call);
    t.equal(got.status, row.status, `${row.name}: status`);
    if (row.code) t.equal(errorCode(got.text), row.code, `${row.name}: error code`);
  }
});

t.test('a signed header changed after signing is refused', async (t) => {
  const signed = await moto.call(moto.directCredentials, { ...getReport, headers: { range: 'bytes=0-3' } });
  t.equal(signed.status, 206);
  t.equal(signed.text, '%PDF');
  const tampered = await sendTampered(
    moto.directCredentials,
    { ...getReport, headers: { range: 'bytes=0-3' } },
    {
      tamper: (h) => {
        h['range'] = 'bytes=0-99';
      },
    },
  );
  t.equal(tampered.status, 403);
  t.equal(errorCode(tampered.text), 'SignatureDoesNotMatch');
});

// Outside S3 the SDKs send no x-amz-content-sha256, and moto hashes the body itself (see the findings
// for what happens when the header is there).
t.test('outside S3, a body swapped after signing is refused', async (t) => {
  const otherKey = JSON.stringify({ TableName: FIXTURES.table, Key: { id: { S: 'someone-else' } } });
  const swappedJson = await sendTampered(moto.directCredentials, getTaskItem, { sentBody: otherKey });
  t.equal(swappedJson.status, 403, 'DynamoDB');
  t.equal(errorCode(swappedJson.text), 'SignatureDoesNotMatch', 'DynamoDB');
  const swappedQuery = await sendTampered(moto.directCredentials, whoAmI, {
    sentBody: 'Action=GetCallerIdentity&Version=2011-06-15&Extra=1',
  });
  t.equal(swappedQuery.status, 403, 'STS');
  t.equal(errorCode(swappedQuery.text), 'SignatureDoesNotMatch', 'STS');
});

interface Tampering {
  /** Changes the headers after signing. */
  tamper?: (headers: Record<string, string>) => void;
  /** Sent in place of the signed body. */
  sentBody?: string;
  /** Sign with x-amz-content-sha256 (default: only for S3, as the SDKs do). */
  declareHash?: boolean;
}

/** Signs `call`, changes it as `how` says, and sends it as changed. */
async function sendTampered(
  credentials: AwsCredentials,
  call: AwsCall,
  how: Tampering,
): Promise<{ status: number; text: string }> {
  const url = new URL(moto.endpoint);
  const signer = new SignatureV4({
    credentials,
    region: moto.region,
    service: call.service,
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: call.service !== 's3',
    applyChecksum: how.declareHash ?? call.service === 's3',
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: call.method,
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: call.path,
      headers: { host: url.host, ...call.headers },
      body: call.body,
    }),
  );
  const headers = { ...signed.headers };
  how.tamper?.(headers);
  const body = how.sentBody ?? call.body;
  const response = await fetch(`${moto.endpoint}${call.path}`, { method: call.method, headers, body });
  return { status: response.status, text: await response.text() };
}

t.test('AssumeRole through the real SDK v3 STS client, and the session token', async (t) => {
  const sts = new STSClient({
    endpoint: moto.endpoint,
    region: moto.region,
    credentials: moto.sourceCredentials,
  });
  t.teardown(() => sts.destroy());
  const before = Date.now();
  const assumed = await sts.send(
    new AssumeRoleCommand({
      RoleArn: moto.roleArn,
      RoleSessionName: 'tsk_01JD8Q7ZK3',
      DurationSeconds: 900,
      SourceIdentity: 'alice@example.com',
      Tags: [{ Key: 'errand-task', Value: 'tsk_01JD8Q7ZK3' }],
      // Allows alice's report only. moto does not apply session policies: see the row below.
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 's3:GetObject',
            Resource: `arn:aws:s3:::${FIXTURES.bucket}/users/alice/report.pdf`,
          },
        ],
      }),
    }),
  );
  const c = assumed.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
    t.fail('AssumeRole returned no credentials');
    return;
  }
  t.match(c.AccessKeyId, /^ASIA/);
  t.equal(
    assumed.AssumedRoleUser?.Arn,
    `arn:aws:sts::${moto.accountId}:assumed-role/errand-task/tsk_01JD8Q7ZK3`,
  );
  const lifetime = (c.Expiration.getTime() - before) / 1000;
  t.ok(lifetime > 890 && lifetime <= 902, `expires after DurationSeconds (got ${lifetime} s)`);

  const session: AwsCredentials = {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken,
  };
  const asRole = new STSClient({ endpoint: moto.endpoint, region: moto.region, credentials: session });
  t.teardown(() => asRole.destroy());
  const identity = await asRole.send(new GetCallerIdentityCommand({}));
  t.equal(identity.Arn, assumed.AssumedRoleUser?.Arn, 'the session works with its token (SDK)');

  const noToken = { accessKeyId: session.accessKeyId, secretAccessKey: session.secretAccessKey };
  const badToken = { ...session, sessionToken: altered(session.sessionToken ?? '', 4) };
  const rows: { name: string; credentials: AwsCredentials; call: AwsCall; status: number; code?: string }[] =
    [
      { name: 'S3 with the token', credentials: session, call: getReport, status: 200 },
      {
        name: 'S3 without the token',
        credentials: noToken,
        call: getReport,
        status: 403,
        code: 'InvalidAccessKeyId',
      },
      {
        name: 'S3 with a wrong token',
        credentials: badToken,
        call: getReport,
        status: 400,
        code: 'InvalidToken',
      },
      {
        name: 'S3 with a wrong secret',
        credentials: wrongSecret(session),
        call: getReport,
        status: 403,
        code: 'SignatureDoesNotMatch',
      },
      {
        name: 'STS without the token',
        credentials: noToken,
        call: whoAmI,
        status: 403,
        code: 'InvalidClientTokenId',
      },
      {
        name: 'STS with a wrong token',
        credentials: badToken,
        call: whoAmI,
        status: 403,
        code: 'InvalidClientTokenId',
      },
      {
        name: 'an IAM user key with a token',
        credentials: { ...moto.directCredentials, sessionToken: session.sessionToken ?? '' },
        call: getReport,
        status: 400,
        code: 'InvalidToken',
      },
      {
        name: 'DynamoDB without the token',
        credentials: noToken,
        call: getTaskItem,
        status: 403,
        code: 'InvalidClientTokenId',
      },
      // FINDING: the session policy is ignored; only the role's identity policy counts.
      {
        name: 'S3 outside the session policy (moto allows it)',
        credentials: session,
        call: getBobSecret,
        status: 200,
      },
    ];
  for (const row of rows) {
    const got = await moto.call(row.credentials, row.call);
    t.equal(got.status, row.status, `${row.name}: status`);
    if (row.code) t.equal(errorCode(got.text), row.code, `${row.name}: error code`);
  }
});

t.test('only the trusted user can assume the role', async (t) => {
  const sts = new STSClient({
    endpoint: moto.endpoint,
    region: moto.region,
    credentials: moto.directCredentials,
    maxAttempts: 1,
  });
  t.teardown(() => sts.destroy());
  await t.rejects(
    sts.send(new AssumeRoleCommand({ RoleArn: moto.roleArn, RoleSessionName: 'not-trusted' })),
    { name: 'AccessDenied' },
  );
});

// What moto does NOT check (docs/testing.md): the suite must not count on moto to catch these.
t.test('findings: moto accepts what real AWS would refuse', async (t) => {
  const stale = await moto.call(moto.directCredentials, {
    ...getReport,
    signingDate: new Date('2010-01-01T00:00:00Z'),
  });
  t.equal(
    stale.status,
    200,
    'no clock-skew check: a signature from 2010 is accepted (AWS: RequestTimeTooSkewed)',
  );

  const lying = await moto.call(moto.directCredentials, {
    service: 's3',
    method: 'PUT',
    path: `/${FIXTURES.bucket}/scratch/lying-hash.txt`,
    headers: { 'x-amz-content-sha256': sha256Hex('other bytes') },
    body: 'actual bytes',
  });
  t.equal(
    lying.status,
    200,
    'x-amz-content-sha256 is not compared with the body (AWS: XAmzContentSHA256Mismatch)',
  );

  const otherKey = JSON.stringify({ TableName: FIXTURES.table, Key: { id: { S: 'someone-else' } } });
  const declared = await sendTampered(moto.directCredentials, getTaskItem, {
    sentBody: otherKey,
    declareHash: true,
  });
  t.equal(declared.status, 200, 'with x-amz-content-sha256 declared, a swapped DynamoDB body is accepted');
  t.equal(declared.text, '{}', 'and answered for the swapped body');

  const unsignedHeader = await sendTampered(moto.directCredentials, getReport, {
    tamper: (h) => {
      h['x-amz-request-payer'] = 'requester';
    },
  });
  t.equal(
    unsignedHeader.status,
    200,
    'an unsigned x-amz-* header is accepted (AWS requires x-amz-* to be signed)',
  );

  const anonymous = await fetch(`${moto.endpoint}${getReport.path}`);
  t.equal(anonymous.status, 403, 'an unsigned S3 request is refused');
  const anonymousSts = await fetch(`${moto.endpoint}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'Action=GetCallerIdentity&Version=2011-06-15',
  });
  t.equal(anonymousSts.status, 500, 'an unsigned STS request crashes the handler (500, not 403)');

  const presigner = new SignatureV4({
    credentials: moto.directCredentials,
    region: moto.region,
    service: 's3',
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: false,
  });
  const url = new URL(moto.endpoint);
  const presigned = await presigner.presign(
    new HttpRequest({
      method: 'GET',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: getReport.path,
      headers: { host: url.host },
    }),
    { expiresIn: 300 },
  );
  const query = new URLSearchParams(presigned.query as Record<string, string>).toString();
  const viaUrl = await fetch(`${moto.endpoint}${getReport.path}?${query}`);
  t.equal(viaUrl.status, 500, 'presigned URLs (query-string auth) fail with 500 when authentication is on');
});

t.test('startup failures say why and show moto stderr', async (t) => {
  await t.rejects(startMoto({ startupTimeoutMs: 1 }), {
    message: /^moto did not start: moto on port \d+: not ready after \d+ ms\n--- moto stderr \(tail\) ---\n/,
  });
});

t.test('stop() ends moto and frees the port; a second stop() is harmless', async (t) => {
  const own: Moto = await startMoto();
  t.ok(await canConnect(own.port), 'listening before stop');
  const started = performance.now();
  await own.stop();
  t.comment(`stop took ${Math.round(performance.now() - started)} ms`);
  t.notOk(await canConnect(own.port), 'port closed after stop');
  await own.stop();
});

t.test('moto dies with the process that started it, even on SIGKILL', async (t) => {
  // A separate Node process starts moto, prints the port, and is then killed without a chance to clean up.
  const script = `
    import { startMoto } from ${JSON.stringify(`${REPO_ROOT}/test/helpers/moto.ts`)};
    const m = await startMoto();
    process.stdout.write(m.port + '\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    child.once('exit', (code) => reject(new Error(`helper process exited early (${code})`)));
  });
  t.ok(await canConnect(port), 'moto is up');
  child.kill('SIGKILL');
  let open = true;
  for (let i = 0; i < 50 && open; i++) {
    await new Promise((r) => setTimeout(r, 100));
    open = await canConnect(port);
  }
  t.notOk(open, 'moto stopped within 5 s of its parent being killed');
});

t.test('scripts/moto-server.sh serves the same emulator by hand and stops on SIGTERM', async (t) => {
  const child = spawn('bash', [`${REPO_ROOT}/scripts/moto-server.sh`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const out = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('Ctrl-C stops it\n')) resolve(text);
    });
    void exited.then((code) => reject(new Error(`moto-server.sh exited early (${code}): ${stderr}`)));
  });
  const vars = Object.fromEntries([...out.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
  t.match(vars['AWS_ENDPOINT_URL'], /^http:\/\/127\.0\.0\.1:\d+$/);
  t.match(out, /^# role to assume: arn:aws:iam::\d{12}:role\/errand-task$/m);
  const endpoint = vars['AWS_ENDPOINT_URL'] ?? '';
  const got = await callAws(
    { endpoint, region: 'us-east-1' },
    { accessKeyId: vars['AWS_ACCESS_KEY_ID'] ?? '', secretAccessKey: vars['AWS_SECRET_ACCESS_KEY'] ?? '' },
    whoAmI,
  );
  t.equal(got.status, 200, 'the printed source credentials work');
  t.match(xmlValue(got.text, 'Arn'), /:user\/errand-source$/);
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exits 0 on SIGTERM');
  t.notOk(await canConnect(Number(new URL(endpoint).port)), 'and moto is gone');
});
