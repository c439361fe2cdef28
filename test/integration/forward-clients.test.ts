import { readFile } from 'node:fs/promises';
import t from 'tap';
import { API_HOST, apiGrant, forwardHarness, httpManifest, injectGrant, SECRET } from '../helpers/forward.ts';
import { awsGrant } from '../helpers/manifests.ts';
import { fixtureObject, type Moto, startMoto } from '../helpers/moto.ts';
import {
  describeRun,
  PLACEHOLDER_CREDENTIALS,
  PYTHON,
  runAwsCli,
  runBoto3,
  runCurl,
  runNode,
  runProcess,
} from '../helpers/real-clients.ts';
import { inMinutes } from '../helpers/sidecar.ts';
import { mintTaskSession } from '../helpers/task-session.ts';

// Unmodified real clients pointed at Errand with nothing but proxy and CA environment variables:
// curl, Node fetch (NODE_USE_ENV_PROXY), Python requests against a local TLS API, and the AWS CLI v2
// and boto3 against the emulator, which they reach as s3.amazonaws.com / dynamodb.us-east-1… through
// CONNECT. Each gets exactly its granted calls; the rest is refused with a reason the client shows.

const grants = () => [
  apiGrant({ id: 'list-items', path: '/v1/items', uses: 10 }),
  injectGrant('post-summary', '/v1/summaries'),
];

t.test('curl through HTTPS_PROXY', async (t) => {
  const h = await forwardHarness(t, httpManifest(grants()));
  const env = { HTTPS_PROXY: h.proxyUrl, HTTP_PROXY: h.proxyUrl };
  const ok = await runCurl(['--cacert', h.caFile, `https://${API_HOST}/v1/items`], { env });
  t.equal(ok.code, 0, describeRun('granted GET', ok));
  t.match(ok.stdout, /"url":"\/v1\/items"/);

  const post = await runCurl(
    [
      '--cacert',
      h.caFile,
      '-H',
      'Authorization: Bearer agent-own-token',
      '-d',
      '{"s":1}',
      `https://${API_HOST}/v1/summaries`,
    ],
    { env },
  );
  t.equal(post.code, 0, describeRun('granted POST', post));
  const seen = h.upstream.requests.at(-1)!;
  t.equal(seen.headers.authorization, `Bearer ${SECRET}`, 'the credential is injected, the agent’s dropped');

  const again = await runCurl(
    ['--cacert', h.caFile, '-sS', '-i', '-d', 'x', `https://${API_HOST}/v1/summaries`],
    { env },
  );
  t.match(again.stdout, /^HTTP\/1\.1 403/m, 'a second use is refused');
  t.match(again.stdout, /x-egress-deny: grant_exhausted/);

  const other = await runCurl(['--cacert', h.caFile, '-i', `https://${API_HOST}/v1/admin`], { env });
  t.match(other.stdout, /x-egress-deny: not_in_manifest/);

  const elsewhere = await runCurl(['--cacert', h.caFile, `https://evil.test/`], { env });
  t.not(elsewhere.code, 0, 'a host the manifest does not name is refused at CONNECT');
  t.match(elsewhere.stderr, /403|CONNECT/);
  t.same(
    h.net.resolved.filter((n) => n === 'evil.test'),
    [],
    'the refused name was never resolved',
  );
  t.equal(h.upstream.requests.length, 2, 'exactly the two granted requests reached the API');
});

t.test('the CA files in --ca-dir: ca.pem alone and the bundle with the system roots', async (t) => {
  const h = await forwardHarness(t, httpManifest(grants()));
  const ca = await readFile(h.caFile, 'utf8');
  const bundle = await readFile(h.bundleFile, 'utf8');
  t.equal(ca, h.sidecar.caPem);
  t.ok(bundle.startsWith(ca), 'the bundle starts with the pod CA');
  t.ok((bundle.match(/BEGIN CERTIFICATE/g) ?? []).length > 10, 'and carries the system roots');
  t.notMatch(ca + bundle, /PRIVATE KEY/, 'no key is ever written');
  const withBundle = await runCurl(['--cacert', h.bundleFile, `https://${API_HOST}/v1/items`], {
    env: { HTTPS_PROXY: h.proxyUrl },
  });
  t.equal(withBundle.code, 0, describeRun('curl with the bundle', withBundle));
});

t.test('Node fetch with NODE_USE_ENV_PROXY and NODE_EXTRA_CA_CERTS', async (t) => {
  const h = await forwardHarness(t, httpManifest(grants()));
  const code = `
const get = await fetch('https://${API_HOST}/v1/items');
const post = await fetch('https://${API_HOST}/v1/summaries', { method: 'POST', body: 'x', headers: { cookie: 'a=b' } });
const again = await fetch('https://${API_HOST}/v1/summaries', { method: 'POST', body: 'x' });
console.log(JSON.stringify([get.status, post.status, again.status, again.headers.get('x-egress-deny')]));
`;
  const run = await runNode(code, {
    env: { HTTPS_PROXY: h.proxyUrl, NODE_USE_ENV_PROXY: '1', NODE_EXTRA_CA_CERTS: h.caFile },
  });
  t.equal(run.code, 0, describeRun('node fetch', run));
  t.same(JSON.parse(run.stdout), [200, 200, 403, 'grant_exhausted']);
  const post = h.upstream.requests.find((r) => r.method === 'POST')!;
  t.equal(post.headers.authorization, `Bearer ${SECRET}`);
  t.equal(post.headers.cookie, undefined, 'the agent’s cookie is dropped');
});

t.test('Python requests with REQUESTS_CA_BUNDLE', async (t) => {
  const h = await forwardHarness(t, httpManifest(grants()));
  const code = `
import json, requests
r1 = requests.get('https://${API_HOST}/v1/items')
r2 = requests.post('https://${API_HOST}/v1/summaries', data='x')
r3 = requests.delete('https://${API_HOST}/v1/items')
print(json.dumps([r1.status_code, r2.status_code, r3.status_code, r3.headers.get('x-egress-deny')]))
`;
  const run = await runProcess(PYTHON, ['-c', code], {
    env: { HTTPS_PROXY: h.proxyUrl, REQUESTS_CA_BUNDLE: h.bundleFile },
  });
  t.equal(run.code, 0, describeRun('python requests', run));
  t.same(JSON.parse(run.stdout), [200, 200, 403, 'not_in_manifest']);
});

t.test('AWS clients through the proxy reach the emulator, re-signed by Errand', async (t) => {
  let moto: Moto;
  try {
    moto = await startMoto();
  } catch (error) {
    t.fail(`moto did not start: ${(error as Error).message}`);
    return;
  }
  t.teardown(() => moto.stop());
  const m = {
    ...httpManifest([]),
    aws: {
      region: 'us-east-1',
      roleArn: 'arn:aws:iam::123456789012:role/errand-task',
      isolation: 'task' as const,
      grants: [
        awsGrant({
          id: 'read-report',
          action: 's3:GetObject',
          resources: ['arn:aws:s3:::acme-uploads/users/alice/report.pdf'],
          uses: 2,
        }),
        awsGrant({
          id: 'read-task',
          action: 'dynamodb:GetItem',
          resources: ['arn:aws:dynamodb:us-east-1:123456789012:table/tasks'],
          uses: 2,
        }),
      ],
    },
    http: { grants: [], passthrough: [] },
  };
  m.task = { ...m.task, expiresAt: inMinutes(30) };
  const credentials = await mintTaskSession(moto, m);
  const h = await forwardHarness(t, m, { credentials, awsUpstreamUrl: moto.endpoint });
  const env = {
    HTTPS_PROXY: h.proxyUrl,
    AWS_CA_BUNDLE: h.bundleFile,
    AWS_ACCESS_KEY_ID: PLACEHOLDER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: PLACEHOLDER_CREDENTIALS.secretAccessKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_REGION: 'us-east-1',
    AWS_MAX_ATTEMPTS: '1',
  };

  const out = `${h.caDir}/report.pdf`;
  const cli = await runAwsCli(
    ['s3api', 'get-object', '--bucket', 'acme-uploads', '--key', 'users/alice/report.pdf', out],
    {
      env,
      endpointUrl: null,
    },
  );
  t.equal(cli.code, 0, describeRun('aws s3api get-object', cli));
  t.ok((await readFile(out)).equals(fixtureObject('users/alice/report.pdf')), 'the exact bytes arrive');

  const neighbour = await runAwsCli(
    ['s3api', 'get-object', '--bucket', 'acme-uploads', '--key', 'users/bob/secret.txt', `${h.caDir}/x`],
    { env, endpointUrl: null },
  );
  t.not(neighbour.code, 0);
  t.match(neighbour.stderr, /AccessDenied/);
  t.match(neighbour.stderr, /aws_op_not_granted/);

  const item = await runAwsCli(
    ['dynamodb', 'get-item', '--table-name', 'tasks', '--key', '{"id":{"S":"tsk_1"}}'],
    {
      env,
      endpointUrl: null,
    },
  );
  t.equal(item.code, 0, describeRun('aws dynamodb get-item', item));

  const boto = await runBoto3(
    `
import boto3, botocore.exceptions, sys
s3 = boto3.client('s3')
body = s3.get_object(Bucket='acme-uploads', Key='users/alice/report.pdf')['Body'].read()
sys.stdout.write('%d\\n' % len(body))
try:
    s3.get_object(Bucket='acme-uploads', Key='users/alice/report.pdf')
except botocore.exceptions.ClientError as e:
    sys.stdout.write(e.response['Error']['Code'] + ' ' + e.response['Error']['Message'] + '\\n')
`,
    { env },
  );
  t.equal(boto.code, 0, describeRun('boto3', boto));
  t.match(boto.stdout, new RegExp(`^${fixtureObject('users/alice/report.pdf').length}\\n`));
  t.match(boto.stdout, /AccessDenied .*grant_exhausted/, 'the third read of a two-use grant is refused');

  const records = JSON.stringify(await h.auditRecords());
  for (const s of credentials.secrets()) t.notOk(records.includes(s), 'no credential in the audit log');
  t.ok(
    h.net.resolved.length === 0 && h.net.dialed.length === 0,
    'AWS hosts are never resolved: Errand sends to its own endpoint',
  );
});
