// E14 at the classifier: region and endpoint come from the manifest. The agent's Host and
// credential scope are checked against them, never used to choose where a request goes.

import t from 'tap';
import { classifyAws } from '../../src/classify/aws.ts';
import { awsRequest, CTX, sigv4 } from '../helpers/classify-request.ts';

const OBJ = '/amzn-s3-demo-bucket/k';

t.test('Host values that are not this endpoint are bad_host', async (t) => {
  for (const host of [
    's3.us-west-2.amazonaws.com',
    '169.254.169.254',
    'attacker.test',
    's3-fips.dualstack.us-east-1.amazonaws.com',
    '127.0.0.1:4751',
    'localhost',
    '127.0.0.1',
    'evil.test:4750',
    '',
    'a b',
  ]) {
    const c = classifyAws(awsRequest({ target: OBJ, headers: { host } }), CTX, undefined);
    t.equal(c.ok || c.reason, 'bad_host', `Host: ${host}`);
  }
});

t.test('the expected local authorities pass, with or without a trailing dot', async (t) => {
  for (const host of ['127.0.0.1:4750', 'localhost:4750', 'LOCALHOST:4750', 'localhost.:4750']) {
    const c = classifyAws(awsRequest({ target: OBJ, headers: { host } }), CTX, undefined);
    t.ok(c.ok, `Host: ${host}`);
    t.equal(c.ok && c.intent.region, 'us-east-1', 'the region is the manifest region');
  }
});

t.test('a request signed for another region is refused, whatever the service', async (t) => {
  const s3 = classifyAws(
    awsRequest({ target: OBJ, headers: { authorization: sigv4('s3', 'us-west-2') } }),
    CTX,
    undefined,
  );
  t.equal(s3.ok || s3.reason, 'bad_host');
  if (!s3.ok)
    t.match(s3.message, /^the request is signed for region us-west-2; this task works only in us-east-1$/);
  const ddb = classifyAws(
    awsRequest({
      method: 'POST',
      target: '/',
      signedFor: false,
      headers: {
        authorization: sigv4('dynamodb', 'eu-west-1'),
        'x-amz-target': 'DynamoDB_20120810.ListTables',
      },
    }),
    CTX,
    new TextEncoder().encode('{}'),
  );
  t.equal(ddb.ok || ddb.reason, 'bad_host');
});

t.test('the intent carries the manifest region and the service endpoint prefix', async (t) => {
  const other = { ...CTX, region: 'eu-central-1' };
  const c = classifyAws(
    awsRequest({ target: OBJ, headers: { authorization: sigv4('s3', 'eu-central-1') } }),
    other,
    undefined,
  );
  t.same(c.ok && [c.intent.region, c.intent.endpointPrefix, c.intent.service], ['eu-central-1', 's3', 's3']);
  const b = classifyAws(
    awsRequest({
      method: 'POST',
      target: '/model/m1/invoke',
      headers: { authorization: sigv4('bedrock', 'eu-central-1') },
    }),
    other,
    undefined,
  );
  t.same(b.ok && [b.intent.endpointPrefix, b.intent.service], ['bedrock-runtime', 'bedrock']);
});

t.test('S3 ARNs follow the partition of the manifest region', async (t) => {
  const cn = { ...CTX, region: 'cn-north-1' };
  const c = classifyAws(
    awsRequest({ target: OBJ, headers: { authorization: sigv4('s3', 'cn-north-1') } }),
    cn,
    undefined,
  );
  t.same(c.ok && c.intent.needs, [
    { action: 's3:GetObject', resource: 'arn:aws-cn:s3:::amzn-s3-demo-bucket/k' },
  ]);
});
