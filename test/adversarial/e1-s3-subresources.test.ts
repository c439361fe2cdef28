// E1 at the classifier: query subresources change the S3 operation. With a grant of
// s3:GetObject on b/reports/q1.csv, every variant below must classify to its real operation (so
// the authorizer refuses it as not granted) or be refused outright; x-id never decides.

import t from 'tap';
import { classifyAws } from '../../src/classify/aws.ts';
import { awsRequest, CTX } from '../helpers/classify-request.ts';

const KEY = '/amzn-s3-demo-bucket/reports/q1.csv';
const OBJECT = 'arn:aws:s3:::amzn-s3-demo-bucket/reports/q1.csv';
const GRANTED = { action: 's3:GetObject', resource: OBJECT };

const rows: [string, string, string | undefined, string, string][] = [
  // [method, query, extra header, expected operation or deny reason, expected first action]
  ['GET', '?acl', undefined, 'GetObjectAcl', 's3:GetObjectAcl'],
  ['GET', '?tagging', undefined, 'GetObjectTagging', 's3:GetObjectTagging'],
  ['GET', '?attributes', 'x-amz-object-attributes', 'GetObjectAttributes', 's3:GetObject'],
  ['GET', '?legal-hold', undefined, 'GetObjectLegalHold', 's3:GetObjectLegalHold'],
  ['GET', '?retention', undefined, 'GetObjectRetention', 's3:GetObjectRetention'],
  ['GET', '?torrent', undefined, 'GetObjectTorrent', 's3:GetObjectTorrent'],
  ['GET', '?versionId=3HL4kqtJlcpXroDTDmJ', undefined, 'GetObject', 's3:GetObjectVersion'],
  ['POST', '?select&select-type=2', undefined, 'SelectObjectContent', 's3:GetObject'],
  ['POST', '?restore', undefined, 'RestoreObject', 's3:RestoreObject'],
  ['POST', '?uploads', undefined, 'CreateMultipartUpload', 's3:PutObject'],
  ['PUT', '?partNumber=1&uploadId=X', undefined, 'UploadPart', 's3:PutObject'],
  ['DELETE', '?x-id=GetObject', undefined, 'DeleteObject', 's3:DeleteObject'],
  ['PUT', '?x-id=GetObject', undefined, 'PutObject', 's3:PutObject'],
];

t.test('each subresource is its own operation, never the granted GetObject', async (t) => {
  for (const [method, query, header, op, action] of rows) {
    const c = classifyAws(
      awsRequest({ method, target: `${KEY}${query}`, headers: header ? { [header]: 'ETag' } : {} }),
      CTX,
      undefined,
    );
    if (!c.ok) {
      t.fail(`${method} ${query}: ${c.reason} ${c.message}`);
      continue;
    }
    t.equal(c.intent.operation, op, `${method} ${query} is ${op}`);
    t.equal(c.intent.needs[0]?.action, action, `${method} ${query} needs ${action}`);
    if (op === 'SelectObjectContent') {
      // IAM authorizes S3 Select as s3:GetObject on the object ("Required permissions for Amazon S3
      // API operations"): the needs are those of the grant, and only the operation tells it apart.
      // The authorizer decides whether a GetObject grant covers it (E1 expects a refusal).
      t.same(c.intent.needs, [GRANTED], 'Select needs exactly s3:GetObject on the object');
      continue;
    }
    t.notSame(c.intent.needs, [GRANTED], `${method} ${query} does not look like the granted GetObject`);
  }
});

t.test('ListObjectsV2 on the bucket is a list, not a read of the key', async (t) => {
  const c = classifyAws(awsRequest({ target: '/amzn-s3-demo-bucket/?list-type=2&prefix=' }), CTX, undefined);
  t.same(c.ok && c.intent.needs, [
    { action: 's3:ListBucket', resource: 'arn:aws:s3:::amzn-s3-demo-bucket', s3Prefix: '' },
  ]);
});

t.test('the granted read stays a read with harmless response overrides', async (t) => {
  for (const q of ['', '?x-id=GetObject', '?response-content-type=text%2Fhtml', '?x-id=DeleteObject']) {
    const c = classifyAws(awsRequest({ target: `${KEY}${q}` }), CTX, undefined);
    t.same(
      c.ok && [c.intent.operation, c.intent.needs],
      ['GetObject', [GRANTED]],
      `GET ${q || '(no query)'}`,
    );
  }
});

t.test('unknown or doubled subresources are refused, not guessed', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['?website', 'query_not_allowed', /^GetObject does not take the query key 'website'$/],
    ['?acl&tagging', 'aws_op_unknown', /ambiguous/],
    ['?acl=x', 'query_not_allowed', /'acl'/],
    ['?versionId=a&versionId=b', 'malformed_request', /appears more than once/],
    ['?list-type=2', 'query_not_allowed', /'list-type'/],
  ];
  for (const [q, reason, message] of cases) {
    const c = classifyAws(awsRequest({ target: `${KEY}${q}` }), CTX, undefined);
    t.equal(c.ok ? c.intent.operation : c.reason, reason, q);
    if (!c.ok) t.match(c.message, message, `${q} message`);
  }
});
