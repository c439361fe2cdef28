// What the AWS SDK for JavaScript v3 actually sends, classified. The SDK builds and signs each
// request as it would for AWS_ENDPOINT_URL=http://127.0.0.1:4750; a recording request handler
// takes it before any network (the SDK itself is not mocked).

import { Readable } from 'node:stream';
import {
  BatchWriteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import t from 'tap';
import { awsBodyNeeded, classifyAws, detectAwsService } from '../../src/classify/aws.ts';
import { CTX, SDK_CLIENT_CONFIG, sdkCapture } from '../helpers/classify-request.ts';

const B = 'amzn-s3-demo-bucket';
const ARN = `arn:aws:s3:::${B}`;
const TABLE = 'arn:aws:dynamodb:us-east-1:111122223333:table';

/** Classifies what the SDK sent, reading the body only when the classifier asks for it. */
async function classifySent(capture: ReturnType<typeof sdkCapture>, client: never, command: unknown) {
  const { request, body } = await capture.send(client, command);
  const detected = detectAwsService(request);
  if (!detected.ok) return detected;
  const need = awsBodyNeeded(request, detected.service);
  return classifyAws(request, CTX, need.needed ? body : undefined);
}

t.test('S3 commands, path-style', async (t) => {
  const capture = sdkCapture();
  const s3 = new S3Client({
    ...SDK_CLIENT_CONFIG,
    forcePathStyle: true,
    requestHandler: capture.handler,
  }) as never;
  const rows: [string, unknown, string, [string, string, string?][], string?][] = [
    [
      'GetObject',
      new GetObjectCommand({ Bucket: B, Key: 'dir/a b+c%.txt' }),
      'GetObject',
      [['s3:GetObject', `${ARN}/dir/a b+c%.txt`]],
    ],
    [
      'GetObject of a version',
      new GetObjectCommand({ Bucket: B, Key: 'k', VersionId: 'v1' }),
      'GetObject',
      [['s3:GetObjectVersion', `${ARN}/k`]],
    ],
    [
      'HeadObject',
      new HeadObjectCommand({ Bucket: B, Key: 'k' }),
      'HeadObject',
      [['s3:GetObject', `${ARN}/k`]],
    ],
    [
      'PutObject (string body, CRC32)',
      new PutObjectCommand({ Bucket: B, Key: 'out/k', Body: 'hello' }),
      'PutObject',
      [['s3:PutObject', `${ARN}/out/k`]],
    ],
    [
      'ListObjectsV2 with prefix',
      new ListObjectsV2Command({ Bucket: B, Prefix: 'reports/2026 Q1/' }),
      'ListObjectsV2',
      [['s3:ListBucket', ARN, 'reports/2026 Q1/']],
    ],
    [
      'ListObjectsV2 without prefix',
      new ListObjectsV2Command({ Bucket: B }),
      'ListObjectsV2',
      [['s3:ListBucket', ARN, '']],
    ],
    [
      'CopyObject with an encoded source',
      new CopyObjectCommand({
        Bucket: B,
        Key: 'out/copy',
        CopySource: `src-bucket/${encodeURIComponent('a b/c.txt')}`,
      }),
      'CopyObject',
      [
        ['s3:PutObject', `${ARN}/out/copy`],
        ['s3:GetObject', 'arn:aws:s3:::src-bucket/a b/c.txt'],
      ],
    ],
    [
      'CreateMultipartUpload',
      new CreateMultipartUploadCommand({ Bucket: B, Key: 'big' }),
      'CreateMultipartUpload',
      [['s3:PutObject', `${ARN}/big`]],
      undefined,
    ],
    [
      'UploadPart',
      new UploadPartCommand({ Bucket: B, Key: 'big', UploadId: 'U1', PartNumber: 1, Body: 'x' }),
      'UploadPart',
      [['s3:PutObject', `${ARN}/big`]],
      'U1',
    ],
    [
      'UploadPartCopy',
      new UploadPartCopyCommand({
        Bucket: B,
        Key: 'big',
        UploadId: 'U1',
        PartNumber: 2,
        CopySource: 'src-bucket/part',
      }),
      'UploadPartCopy',
      [
        ['s3:PutObject', `${ARN}/big`],
        ['s3:GetObject', 'arn:aws:s3:::src-bucket/part'],
      ],
      'U1',
    ],
    [
      'CompleteMultipartUpload',
      new CompleteMultipartUploadCommand({
        Bucket: B,
        Key: 'big',
        UploadId: 'U1',
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"e"' }] },
      }),
      'CompleteMultipartUpload',
      [['s3:PutObject', `${ARN}/big`]],
      'U1',
    ],
    [
      'ListParts',
      new ListPartsCommand({ Bucket: B, Key: 'big', UploadId: 'U1' }),
      'ListParts',
      [['s3:ListMultipartUploadParts', `${ARN}/big`]],
      'U1',
    ],
    [
      'AbortMultipartUpload',
      new AbortMultipartUploadCommand({ Bucket: B, Key: 'big', UploadId: 'U1' }),
      'AbortMultipartUpload',
      [['s3:AbortMultipartUpload', `${ARN}/big`]],
      'U1',
    ],
    [
      'DeleteObjects with awkward keys',
      new DeleteObjectsCommand({
        Bucket: B,
        Delete: { Objects: [{ Key: 'a&b<c>' }, { Key: 'line\r\nbreak' }, { Key: 'v', VersionId: 'v1' }] },
      }),
      'DeleteObjects',
      [
        ['s3:DeleteObject', `${ARN}/a&b<c>`],
        ['s3:DeleteObject', `${ARN}/line\r\nbreak`],
        ['s3:DeleteObjectVersion', `${ARN}/v`],
      ],
    ],
  ];
  for (const [name, command, op, needs, uploadId] of rows) {
    const c = await classifySent(capture, s3, command);
    if (!c.ok) {
      t.fail(`${name}: ${c.reason} ${c.message}`);
      continue;
    }
    t.equal(c.intent.operation, op, `${name}: operation`);
    t.same(
      c.intent.needs.map((n) =>
        n.s3Prefix === undefined ? [n.action, n.resource] : [n.action, n.resource, n.s3Prefix],
      ),
      needs,
      `${name}: needs`,
    );
    t.equal(c.intent.uploadId, uploadId, `${name}: upload id`);
    t.same(c.intent.sensitiveHeaders, [], `${name}: no sensitive header by default`);
    t.notOk(
      c.intent.forwardHeaders.some(([k]) =>
        ['authorization', 'x-amz-date', 'user-agent', 'host', 'content-length'].includes(k),
      ),
      `${name}: auth, transport and framing are not forwarded`,
    );
  }
});

t.test('a streaming upload is aws-chunked with a trailing checksum (E9)', async (t) => {
  const capture = sdkCapture();
  const s3 = new S3Client({
    ...SDK_CLIENT_CONFIG,
    forcePathStyle: true,
    requestHandler: capture.handler,
  }) as never;
  const c = await classifySent(
    capture,
    s3,
    new PutObjectCommand({ Bucket: B, Key: 'k', Body: Readable.from(['hello']), ContentLength: 5 }),
  );
  t.ok(c.ok);
  if (!c.ok) return;
  t.equal(c.intent.awsChunked, true);
  const names = c.intent.forwardHeaders.map(([k]) => k);
  t.ok(
    names.includes('x-amz-trailer') && names.includes('x-amz-decoded-content-length'),
    'chunk framing headers are passed on',
  );
  t.notOk(names.includes('content-encoding'), 'aws-chunked is not forwarded as a content coding');
});

t.test('S3 sensitive headers the SDK writes are named', async (t) => {
  const capture = sdkCapture();
  const s3 = new S3Client({
    ...SDK_CLIENT_CONFIG,
    forcePathStyle: true,
    requestHandler: capture.handler,
  }) as never;
  const c = await classifySent(
    capture,
    s3,
    new PutObjectCommand({
      Bucket: B,
      Key: 'k',
      Body: 'x',
      ACL: 'public-read',
      StorageClass: 'GLACIER',
      ServerSideEncryption: 'aws:kms',
      Tagging: 'a=b',
    }),
  );
  t.same(c.ok && c.intent.sensitiveHeaders, [
    'x-amz-acl',
    'x-amz-server-side-encryption',
    'x-amz-storage-class',
    'x-amz-tagging',
  ]);
});

t.test('virtual-hosted requests to localhost name the bucket in the Host', async (t) => {
  const capture = sdkCapture();
  const s3 = new S3Client({
    ...SDK_CLIENT_CONFIG,
    endpoint: 'http://localhost:4750',
    requestHandler: capture.handler,
  }) as never;
  const { request } = await capture.send(s3, new GetObjectCommand({ Bucket: B, Key: 'dir/k' }));
  t.equal(request.headers.get('host'), `${B}.localhost:4750`, 'the SDK addressed the bucket by Host');
  const c = classifyAws(request, CTX, undefined);
  t.same(c.ok && c.intent.needs, [{ action: 's3:GetObject', resource: `${ARN}/dir/k` }]);
  t.same(c.ok && c.intent.s3, { bucket: B, rawKey: 'dir/k' });
});

t.test('DynamoDB commands', async (t) => {
  const capture = sdkCapture();
  const ddb = new DynamoDBClient({ ...SDK_CLIENT_CONFIG, requestHandler: capture.handler }) as never;
  const rows: [unknown, string, [string, string][]][] = [
    [
      new GetItemCommand({ TableName: 'Orders', Key: { id: { S: '1' } } }),
      'GetItem',
      [['dynamodb:GetItem', `${TABLE}/Orders`]],
    ],
    [
      new QueryCommand({
        TableName: 'Orders',
        IndexName: 'byCustomer',
        KeyConditionExpression: 'c = :c',
        ExpressionAttributeValues: { ':c': { S: 'x' } },
      }),
      'Query',
      [['dynamodb:Query', `${TABLE}/Orders/index/byCustomer`]],
    ],
    [
      new BatchWriteItemCommand({
        RequestItems: {
          Orders: [{ PutRequest: { Item: { id: { S: '1' } } } }],
          Audit: [{ DeleteRequest: { Key: { id: { S: '1' } } } }],
        },
      }),
      'BatchWriteItem',
      [
        ['dynamodb:BatchWriteItem', `${TABLE}/Orders`],
        ['dynamodb:BatchWriteItem', `${TABLE}/Audit`],
      ],
    ],
    [
      new TransactWriteItemsCommand({
        TransactItems: [
          { Put: { TableName: 'Orders', Item: { id: { S: '1' } } } },
          {
            ConditionCheck: {
              TableName: 'Limits',
              Key: { id: { S: '1' } },
              ConditionExpression: 'attribute_exists(id)',
            },
          },
        ],
      }),
      'TransactWriteItems',
      [
        ['dynamodb:PutItem', `${TABLE}/Orders`],
        ['dynamodb:ConditionCheckItem', `${TABLE}/Limits`],
      ],
    ],
  ];
  for (const [command, op, needs] of rows) {
    const c = await classifySent(capture, ddb, command);
    if (!c.ok) {
      t.fail(`${op}: ${c.reason} ${c.message}`);
      continue;
    }
    t.equal(c.intent.operation, op);
    t.same(
      c.intent.needs.map((n) => [n.action, n.resource]),
      needs,
      `${op}: needs`,
    );
    t.equal(c.intent.endpointPrefix, 'dynamodb');
  }
});

t.test('STS through the SDK is refused as credential-returning', async (t) => {
  const capture = sdkCapture();
  const sts = new STSClient({ ...SDK_CLIENT_CONFIG, requestHandler: capture.handler }) as never;
  for (const [command, name] of [
    [
      new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::111122223333:role/admin', RoleSessionName: 's' }),
      'AssumeRole',
    ],
    [new GetCallerIdentityCommand({}), 'GetCallerIdentity'],
  ] as const) {
    const c = await classifySent(capture, sts, command);
    t.equal(c.ok || c.reason, 'credential_returning_action', name);
    if (!c.ok) t.match(c.message, new RegExp(`^${name} \\(STS\\)`));
  }
});
