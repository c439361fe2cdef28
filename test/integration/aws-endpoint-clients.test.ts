import t from 'tap';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { fixtureObject, type Moto, startMoto } from '../helpers/moto.ts';
import { CLIENTS, describeRun, getItem, PLACEHOLDER_CREDENTIALS } from '../helpers/real-clients.ts';
import { s3Op } from '../helpers/s3-ops.ts';
import { inMinutes, startTestSidecar } from '../helpers/sidecar.ts';
import { mintTaskSession } from '../helpers/task-session.ts';

// Unmodified real clients (AWS CLI v2, boto3, AWS SDK for JavaScript v3, curl) with placeholder keys,
// pointed at Errand, which signs with a real STS session minted from the emulator (authentication on).
// Each gets exactly its granted operations; every trick is refused with an error the client shows.

const BUCKET = 'acme-uploads';
const REPORT = 'users/alice/report.pdf';
const OUT = 'out/summary.txt';

const manifest = () =>
  manifestWith(
    [
      awsGrant({
        id: 'read-report',
        action: 's3:GetObject',
        resources: [`arn:aws:s3:::${BUCKET}/${REPORT}`],
      }),
      awsGrant({
        id: 'write-summary',
        action: 's3:PutObject',
        resources: [`arn:aws:s3:::${BUCKET}/${OUT}`],
        uses: 3,
      }),
      awsGrant({
        id: 'read-task',
        action: 'dynamodb:GetItem',
        resources: ['arn:aws:dynamodb:us-east-1:123456789012:table/tasks'],
      }),
    ],
    [],
    inMinutes(30),
  );

let moto: Moto;
t.before(async () => {
  moto = await startMoto();
});
t.teardown(() => moto?.stop());

for (const client of CLIENTS) {
  t.test(`${client} through Errand`, async (t) => {
    const m = manifest();
    const credentials = await mintTaskSession(moto, m);
    const sc = await startTestSidecar({ manifest: m, upstreamUrl: moto.endpoint, credentials });
    t.teardown(() => sc.stop());
    const target = {
      endpoint: sc.endpoint,
      region: 'us-east-1',
      credentials: { ...PLACEHOLDER_CREDENTIALS },
    };

    const granted = await s3Op(client, target, { op: 'getObject', Bucket: BUCKET, Key: REPORT });
    t.ok(granted.ok, describeRun('granted GetObject', granted.run));
    t.ok(granted.body.equals(fixtureObject(REPORT)), 'the granted call returns the exact bytes');

    const again = await s3Op(client, target, { op: 'getObject', Bucket: BUCKET, Key: REPORT });
    t.equal(again.errorCode, 'AccessDenied', 'a second use of the once grant is refused');
    t.match(again.message, /grant_exhausted/);

    const neighbour = await s3Op(client, target, {
      op: 'getObject',
      Bucket: BUCKET,
      Key: 'users/bob/secret.txt',
    });
    t.equal(neighbour.errorCode, 'AccessDenied', 'a neighbouring object is refused');
    t.match(neighbour.message, /aws_op_not_granted/);

    const del = await s3Op(client, target, { op: 'deleteObject', Bucket: BUCKET, Key: REPORT });
    t.equal(del.errorCode, 'AccessDenied', 'another action on the granted object is refused');

    const put = await s3Op(client, target, {
      op: 'putObject',
      Bucket: BUCKET,
      Key: OUT,
      Body: `summary by ${client}\n`,
    });
    t.ok(put.ok, describeRun('granted PutObject', put.run));
    const stored = await moto.call(moto.directCredentials, {
      service: 's3',
      method: 'GET',
      path: `/${BUCKET}/${OUT}`,
    });
    t.equal(
      stored.text,
      `summary by ${client}\n`,
      'the upload arrived intact (whatever payload mode the client chose)',
    );

    const acl = await s3Op(client, target, {
      op: 'putObject',
      Bucket: BUCKET,
      Key: OUT,
      Body: 'x',
      ACL: 'public-read',
    });
    t.equal(acl.errorCode, 'AccessDenied', 'an ACL header is refused');
    t.match(acl.message, /header_not_allowed/);

    const copy = await s3Op(client, target, {
      op: 'copyObject',
      Bucket: BUCKET,
      Key: OUT,
      CopySource: `${BUCKET}/users/bob/secret.txt`,
    });
    t.equal(copy.errorCode, 'AccessDenied', 'a copy-source trick is refused');
    const after = await moto.call(moto.directCredentials, {
      service: 's3',
      method: 'GET',
      path: `/${BUCKET}/${OUT}`,
    });
    t.equal(after.text, `summary by ${client}\n`, 'the copy never happened');

    if (client !== 'curl') {
      const item = await getItem(client, target, 'tasks', { id: { S: 'tsk_1' } });
      t.ok(item.ok, describeRun('granted GetItem', item.run));
      const item2 = await getItem(client, target, 'tasks', { id: { S: 'tsk_1' } });
      t.equal(
        item2.errorCode,
        'AccessDeniedException',
        'DynamoDB: the second use is refused in the JSON error shape',
      );
    }

    const records = await sc.auditRecords();
    const joined = JSON.stringify(records);
    for (const secret of credentials.secrets())
      t.notOk(joined.includes(secret), 'no credential in the audit log');
  });
}

t.test('after the deadline every client call is refused', async (t) => {
  const m = manifest();
  const credentials = await mintTaskSession(moto, m);
  const sc = await startTestSidecar({
    manifest: m,
    upstreamUrl: moto.endpoint,
    credentials,
    now: () => Date.parse(m.task.expiresAt) + 1,
  });
  t.teardown(() => sc.stop());
  const r = await s3Op(
    'sdk-v3',
    { endpoint: sc.endpoint, region: 'us-east-1', credentials: { ...PLACEHOLDER_CREDENTIALS } },
    { op: 'getObject', Bucket: BUCKET, Key: REPORT },
  );
  t.equal(r.errorCode, 'AccessDenied');
  t.match(r.message, /manifest_expired/);
});
