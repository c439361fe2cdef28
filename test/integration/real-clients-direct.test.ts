// Baselines: each real client straight against moto, no Errand in between. The proxy tests run the
// same recipes against Errand; these rows show the recipes work and that moto tells the identities
// apart, so a result seen through Errand is Errand's doing.

import t from 'tap';
import { FIXTURES, fixtureObject, startMoto } from '../helpers/moto.ts';
import {
  type AwsTarget,
  CLIENTS,
  describeRun,
  encodeS3Key,
  getItem,
  getObject,
  PLACEHOLDER_CREDENTIALS,
  runAwsCli,
  runBoto3,
  runCurl,
  runNode,
  runProcess,
} from '../helpers/real-clients.ts';

const moto = await startMoto();
t.teardown(() => moto.stop());

const asDirect: AwsTarget = {
  endpoint: moto.endpoint,
  region: moto.region,
  credentials: moto.directCredentials,
};
const asSource: AwsTarget = { ...asDirect, credentials: moto.sourceCredentials };
const asPlaceholder: AwsTarget = { ...asDirect, credentials: PLACEHOLDER_CREDENTIALS };
const REPORT = 'users/alice/report.pdf';

t.test('each client reads the report byte for byte with the direct credentials', async (t) => {
  for (const client of CLIENTS) {
    const got = await getObject(client, asDirect, FIXTURES.bucket, REPORT);
    t.ok(got.ok, describeRun(client, got.run));
    t.same(got.body, fixtureObject(REPORT), `${client}: the exact bytes`);
  }
});

// The rows that let a proxy test fail: moto refuses the source user (no S3 permission of its own) and
// the agent's placeholder key, and each client reports the refusal in its own way.
const refusals: { name: string; target: AwsTarget; code: string }[] = [
  { name: 'source credentials (may only assume the role)', target: asSource, code: 'AccessDenied' },
  { name: 'placeholder credentials', target: asPlaceholder, code: 'InvalidAccessKeyId' },
];

t.test('each client reports the refusals moto makes', async (t) => {
  for (const row of refusals) {
    for (const client of CLIENTS) {
      const got = await getObject(client, row.target, FIXTURES.bucket, REPORT);
      t.notOk(got.ok, `${client}, ${row.name}: refused`);
      t.equal(got.errorCode, row.code, `${client}, ${row.name}: ${describeRun(client, got.run)}`);
      t.equal(got.body.length, 0, `${client}, ${row.name}: no bytes`);
    }
  }
});

t.test('each client reads the DynamoDB item with the direct credentials', async (t) => {
  for (const client of CLIENTS) {
    const got = await getItem(client, asDirect, FIXTURES.table, { id: FIXTURES.item.id });
    t.ok(got.ok, describeRun(client, got.run));
    t.same(JSON.parse(got.body.toString()), { Item: FIXTURES.item }, `${client}: the item`);
  }
});

// FINDING (docs/testing.md): moto answers an authentication or authorization failure on a JSON-protocol
// service (DynamoDB, SQS) with an XML body, which JSON clients cannot decode: only curl shows the code.
// Errand's own denies must be JSON for these services; moto's cannot serve as the model.
const jsonServiceDenial: Record<string, string> = {
  'aws-cli': '403',
  boto3: '403',
  'sdk-v3': 'SyntaxError',
  curl: 'AccessDenied',
};

t.test('JSON-protocol denials from moto are XML, and the clients show it', async (t) => {
  for (const client of CLIENTS) {
    const got = await getItem(client, asSource, FIXTURES.table, { id: FIXTURES.item.id });
    t.notOk(got.ok, `${client}: refused`);
    t.equal(
      got.errorCode,
      jsonServiceDenial[client],
      `${client}, source credentials: ${describeRun(client, got.run)}`,
    );
  }
});

t.test('a session from AssumeRole works in each client, token included', async (t) => {
  // boto3 assumes the role with the source credentials, as Errand will with SDK v3.
  const assumed = await runBoto3(
    `import sys, json, boto3
c = boto3.client('sts').assume_role(RoleArn=sys.argv[1], RoleSessionName='direct-baseline')['Credentials']
print(json.dumps({'accessKeyId': c['AccessKeyId'], 'secretAccessKey': c['SecretAccessKey'], 'sessionToken': c['SessionToken']}))`,
    { env: moto.env(), args: [moto.roleArn] },
  );
  t.equal(assumed.code, 0, describeRun('boto3 assume_role', assumed));
  const session = JSON.parse(assumed.stdout) as {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken: string;
  };
  const asSession: AwsTarget = { ...asDirect, credentials: session };
  for (const client of CLIENTS) {
    const got = await getObject(client, asSession, FIXTURES.bucket, REPORT);
    t.ok(got.ok, describeRun(client, got.run));
    t.same(got.body, fixtureObject(REPORT), `${client}: the exact bytes with the session`);
  }
  const withoutToken: AwsTarget = {
    ...asDirect,
    credentials: { accessKeyId: session.accessKeyId, secretAccessKey: session.secretAccessKey },
  };
  for (const client of CLIENTS) {
    const got = await getObject(client, withoutToken, FIXTURES.bucket, REPORT);
    t.equal(
      got.errorCode,
      'InvalidAccessKeyId',
      `${client}, session without its token: ${describeRun(client, got.run)}`,
    );
  }
});

t.test('the runners isolate the client and bound its time', async (t) => {
  // No user configuration leaks in: HOME is a fresh empty directory, AWS config files point into it.
  const env = await runProcess('/usr/bin/env', []);
  const vars = Object.fromEntries(
    env.stdout
      .trim()
      .split('\n')
      .map((line) => line.split(/=(.*)/s).slice(0, 2)),
  );
  t.match(vars['HOME'], /\/errand-client-/);
  t.equal(vars['AWS_CONFIG_FILE'], `${vars['HOME']}/.aws/config`);
  t.equal(vars['AWS_EC2_METADATA_DISABLED'], 'true');
  t.notOk('AWS_ACCESS_KEY_ID' in vars, 'no credentials unless given');
  t.notOk('HTTPS_PROXY' in vars || 'https_proxy' in vars, 'no proxy unless given');

  const slow = await runProcess('/bin/sleep', ['5'], { timeoutMs: 200 });
  t.ok(slow.timedOut, 'a client past its timeout is killed');
  t.equal(slow.signal, 'SIGKILL');
  t.match(describeRun('sleep', slow), /^sleep: timed out after \d+ ms; stderr: \(empty\)$/);

  const echoed = await runProcess('/bin/cat', [], { input: 'bytes in' });
  t.equal(echoed.stdout, 'bytes in', 'stdin is passed');
  await t.rejects(runProcess('/nonexistent/client', []), { message: /^cannot run \/nonexistent\/client: / });
});

t.test('the runners call the intended binaries', async (t) => {
  const cli = await runAwsCli(['--version'], { endpointUrl: null });
  t.match(cli.stdout, /^aws-cli\/2\./, 'AWS CLI v2 at /usr/bin/aws');
  const boto3 = await runBoto3('import boto3; print(boto3.__version__)');
  t.match(boto3.stdout, /^1\.\d+\.\d+\n$/, describeRun('boto3', boto3));
  const node = await runNode('process.stdout.write(process.versions.node)');
  t.match(node.stdout, /^24\./, 'the pinned Node 24');
  const curl = await runCurl(['--version']);
  t.match(curl.stdout, /^curl \d/);
});

t.test('encodeS3Key encodes like the AWS SDKs', async (t) => {
  const rows: [string, string][] = [
    ['users/alice/report.pdf', 'users/alice/report.pdf'],
    ['a b+c', 'a%20b%2Bc'],
    ["it's (1)*!", 'it%27s%20%281%29%2A%21'],
    ['data/../x', 'data/../x'],
    ['a//b', 'a//b'],
    ['é', '%C3%A9'],
    ['~-_.', '~-_.'],
  ];
  for (const [key, encoded] of rows) t.equal(encodeS3Key(key), encoded, key);
});

t.test('keys that need encoding or look like traversal round-trip through every client', async (t) => {
  // A space, a plus and non-ASCII are where client encodings differ; dot segments and double slashes are
  // part of an S3 key and must reach S3 as they are (case E5).
  const keys = [
    'users/alice/q3 report+final é.txt',
    'users/alice/../bob/dots.txt',
    'users/alice//double.txt',
  ];
  for (const key of keys) {
    const put = await moto.call(moto.directCredentials, {
      service: 's3',
      method: 'PUT',
      path: `/${FIXTURES.bucket}/${encodeS3Key(key)}`,
      body: `key ${key}`,
    });
    t.equal(put.status, 200, put.text);
    for (const client of CLIENTS) {
      const got = await getObject(client, asDirect, FIXTURES.bucket, key);
      t.ok(got.ok, `${key}: ${describeRun(client, got.run)}`);
      t.equal(got.body.toString(), `key ${key}`, `${client}: ${key}`);
    }
  }
});
