// S3 classification tables, one row per documented request shape (S3 API reference, each
// operation's "Request Syntax"), asserting the operation, IAM action(s) and resource(s) — or the
// deny reason and message a user would see.

import t from 'tap';
import { classifyAws } from '../../src/classify/aws.ts';
import { type ClassifyRow, CTX, runClassifyRows } from '../helpers/classify-request.ts';

const B = 'amzn-s3-demo-bucket';
const ARN = `arn:aws:s3:::${B}`;
const classify = (req: Parameters<typeof classifyAws>[0], body: Uint8Array | undefined) =>
  classifyAws(req, CTX, body);

t.test('object operations and their subresources (E1)', async (t) => {
  const rows: ClassifyRow[] = [
    {
      name: 'GetObject',
      req: { target: `/${B}/reports/q1.csv?x-id=GetObject` },
      op: 'GetObject',
      needs: [['s3:GetObject', `${ARN}/reports/q1.csv`]],
      forward: ['x-amz-content-sha256'],
    },
    {
      name: '?acl is GetObjectAcl',
      req: { target: `/${B}/reports/q1.csv?acl` },
      op: 'GetObjectAcl',
      needs: [['s3:GetObjectAcl', `${ARN}/reports/q1.csv`]],
    },
    {
      name: '?acl&versionId is the version ACL',
      req: { target: `/${B}/k?acl&versionId=v2` },
      op: 'GetObjectAcl',
      needs: [['s3:GetObjectVersionAcl', `${ARN}/k`]],
    },
    {
      name: '?tagging',
      req: { target: `/${B}/k?tagging` },
      op: 'GetObjectTagging',
      needs: [['s3:GetObjectTagging', `${ARN}/k`]],
    },
    {
      name: '?attributes with its required header',
      req: { target: `/${B}/k?attributes`, headers: { 'x-amz-object-attributes': 'ETag' } },
      op: 'GetObjectAttributes',
      needs: [
        ['s3:GetObject', `${ARN}/k`],
        ['s3:GetObjectAttributes', `${ARN}/k`],
      ],
    },
    {
      name: '?attributes&versionId needs both version actions',
      req: { target: `/${B}/k?attributes&versionId=v`, headers: { 'x-amz-object-attributes': 'ETag' } },
      op: 'GetObjectAttributes',
      needs: [
        ['s3:GetObjectVersion', `${ARN}/k`],
        ['s3:GetObjectVersionAttributes', `${ARN}/k`],
      ],
    },
    {
      name: '?attributes without x-amz-object-attributes is no operation',
      req: { target: `/${B}/k?attributes` },
      reason: 'query_not_allowed',
      message: /^GetObject does not take the query key 'attributes'$/,
    },
    {
      name: '?legal-hold',
      req: { target: `/${B}/k?legal-hold` },
      op: 'GetObjectLegalHold',
      needs: [['s3:GetObjectLegalHold', `${ARN}/k`]],
    },
    {
      name: '?retention',
      req: { target: `/${B}/k?retention` },
      op: 'GetObjectRetention',
      needs: [['s3:GetObjectRetention', `${ARN}/k`]],
    },
    {
      name: '?torrent',
      req: { target: `/${B}/k?torrent` },
      op: 'GetObjectTorrent',
      needs: [['s3:GetObjectTorrent', `${ARN}/k`]],
    },
    {
      name: '?versionId=<old> is s3:GetObjectVersion',
      req: { target: `/${B}/reports/q1.csv?versionId=3HL4kqtJlcpXroDTDmJ%2Bf` },
      op: 'GetObject',
      needs: [['s3:GetObjectVersion', `${ARN}/reports/q1.csv`]],
    },
    {
      name: 'POST ?select&select-type=2 reads the object',
      req: { method: 'POST', target: `/${B}/k?select&select-type=2` },
      op: 'SelectObjectContent',
      needs: [['s3:GetObject', `${ARN}/k`]],
    },
    {
      name: 'POST ?select without select-type=2 is no operation',
      req: { method: 'POST', target: `/${B}/k?select` },
      reason: 'aws_op_unknown',
      message: /^no S3 operation is POST on an object with query 'select'$/,
    },
    {
      name: 'POST ?restore',
      req: { method: 'POST', target: `/${B}/k?restore` },
      op: 'RestoreObject',
      needs: [['s3:RestoreObject', `${ARN}/k`]],
    },
    {
      name: 'x-id never decides: GET with x-id=DeleteObject is GetObject',
      req: { target: `/${B}/k?x-id=DeleteObject` },
      op: 'GetObject',
      needs: [['s3:GetObject', `${ARN}/k`]],
    },
    {
      name: 'response-content-type is a GetObject member',
      req: { target: `/${B}/k?response-content-type=text%2Fhtml` },
      op: 'GetObject',
      needs: [['s3:GetObject', `${ARN}/k`]],
    },
    {
      name: 'an unknown query key is refused',
      req: { target: `/${B}/k?foo=bar` },
      reason: 'query_not_allowed',
      message: /^GetObject does not take the query key 'foo'$/,
    },
    {
      name: 'two subresources at once are ambiguous',
      req: { target: `/${B}/k?acl&tagging` },
      reason: 'aws_op_unknown',
      message: /could be GetObjectAcl or GetObjectTagging; refused as ambiguous$/,
    },
    {
      name: 'a repeated query key is refused',
      req: { target: `/${B}/k?versionId=1&versionId=2` },
      reason: 'malformed_request',
      message: /^query key 'versionId' appears more than once$/,
    },
    {
      name: 'PUT ?acl',
      req: { method: 'PUT', target: `/${B}/k?acl` },
      op: 'PutObjectAcl',
      needs: [['s3:PutObjectAcl', `${ARN}/k`]],
    },
    {
      name: 'PUT ?tagging',
      req: { method: 'PUT', target: `/${B}/k?tagging` },
      op: 'PutObjectTagging',
      needs: [['s3:PutObjectTagging', `${ARN}/k`]],
    },
    {
      name: 'DELETE ?tagging&versionId',
      req: { method: 'DELETE', target: `/${B}/k?tagging&versionId=v` },
      op: 'DeleteObjectTagging',
      needs: [['s3:DeleteObjectVersionTagging', `${ARN}/k`]],
    },
    {
      name: 'DeleteObject',
      req: { method: 'DELETE', target: `/${B}/k` },
      op: 'DeleteObject',
      needs: [['s3:DeleteObject', `${ARN}/k`]],
    },
    {
      name: 'DeleteObject of a version',
      req: { method: 'DELETE', target: `/${B}/k?versionId=v` },
      op: 'DeleteObject',
      needs: [['s3:DeleteObjectVersion', `${ARN}/k`]],
    },
    {
      name: 'PUT legal hold',
      req: { method: 'PUT', target: `/${B}/k?legal-hold` },
      op: 'PutObjectLegalHold',
      needs: [['s3:PutObjectLegalHold', `${ARN}/k`]],
    },
  ];
  runClassifyRows(t, rows, classify);
});

t.test('HEAD', async (t) => {
  runClassifyRows(
    t,
    [
      {
        name: 'HeadObject is s3:GetObject',
        req: { method: 'HEAD', target: `/${B}/k` },
        op: 'HeadObject',
        needs: [['s3:GetObject', `${ARN}/k`]],
      },
      {
        name: 'HeadObject of a version',
        req: { method: 'HEAD', target: `/${B}/k?versionId=v` },
        op: 'HeadObject',
        needs: [['s3:GetObjectVersion', `${ARN}/k`]],
      },
      {
        name: 'HeadObject of a part',
        req: {
          method: 'HEAD',
          target: `/${B}/k?partNumber=2`,
          headers: { 'if-none-match': '"e"', range: 'bytes=0-1' },
        },
        op: 'HeadObject',
        needs: [['s3:GetObject', `${ARN}/k`]],
        forward: ['if-none-match', 'range', 'x-amz-content-sha256'],
      },
      {
        name: 'HeadBucket is s3:ListBucket',
        req: { method: 'HEAD', target: `/${B}` },
        op: 'HeadBucket',
        needs: [['s3:ListBucket', ARN]],
      },
    ],
    classify,
  );
});

t.test('bucket operations', async (t) => {
  const rows: ClassifyRow[] = [
    {
      name: 'ListObjects (v1)',
      req: { target: `/${B}` },
      op: 'ListObjects',
      needs: [['s3:ListBucket', ARN, '']],
    },
    {
      name: 'ListObjectsV2 with prefix (decoded once)',
      req: { target: `/${B}/?list-type=2&prefix=tmp%2Fa%2Bb+c&delimiter=%2F` },
      op: 'ListObjectsV2',
      needs: [['s3:ListBucket', ARN, 'tmp/a+b+c']],
    },
    {
      name: 'ListObjectsV2 without prefix asks for ""',
      req: { target: `/${B}?list-type=2` },
      op: 'ListObjectsV2',
      needs: [['s3:ListBucket', ARN, '']],
    },
    {
      name: 'ListObjectsV2 with an empty prefix',
      req: { target: `/${B}?list-type=2&prefix=` },
      op: 'ListObjectsV2',
      needs: [['s3:ListBucket', ARN, '']],
    },
    {
      name: 'list-type=1 is not a literal of ListObjectsV2',
      req: { target: `/${B}?list-type=1` },
      reason: 'query_not_allowed',
      message: /^ListObjects does not take the query key 'list-type'$/,
    },
    {
      name: 'ListObjectVersions',
      req: { target: `/${B}?versions&prefix=p%2F` },
      op: 'ListObjectVersions',
      needs: [['s3:ListBucketVersions', ARN, 'p/']],
    },
    {
      name: 'ListMultipartUploads',
      req: { target: `/${B}?uploads` },
      op: 'ListMultipartUploads',
      needs: [['s3:ListBucketMultipartUploads', ARN]],
    },
    {
      name: 'GetBucketPolicy',
      req: { target: `/${B}?policy` },
      op: 'GetBucketPolicy',
      needs: [['s3:GetBucketPolicy', ARN]],
    },
    {
      name: 'GetBucketLocation',
      req: { target: `/${B}?location` },
      op: 'GetBucketLocation',
      needs: [['s3:GetBucketLocation', ARN]],
    },
    {
      name: 'DeleteBucketCors is authorized as PutBucketCORS',
      req: { method: 'DELETE', target: `/${B}?cors` },
      op: 'DeleteBucketCors',
      needs: [['s3:PutBucketCORS', ARN]],
    },
    {
      name: 'GetBucketAnalyticsConfiguration needs its id',
      req: { target: `/${B}?analytics&id=report` },
      op: 'GetBucketAnalyticsConfiguration',
      needs: [['s3:GetAnalyticsConfiguration', ARN]],
    },
    {
      name: 'without id it is the List operation',
      req: { target: `/${B}?analytics` },
      op: 'ListBucketAnalyticsConfigurations',
      needs: [['s3:GetAnalyticsConfiguration', ARN]],
    },
    {
      name: 'PutBucketAnalyticsConfiguration without its required id matches nothing but CreateBucket',
      req: { method: 'PUT', target: `/${B}?analytics` },
      reason: 'query_not_allowed',
      message: /^CreateBucket does not take the query key 'analytics'$/,
    },
    {
      name: 'CreateBucket',
      req: { method: 'PUT', target: `/${B}` },
      op: 'CreateBucket',
      needs: [['s3:CreateBucket', ARN]],
    },
    {
      name: 'CreateBucket with object lock is sensitive',
      req: { method: 'PUT', target: `/${B}`, headers: { 'x-amz-bucket-object-lock-enabled': 'true' } },
      op: 'CreateBucket',
      needs: [['s3:CreateBucket', ARN]],
      sensitive: ['x-amz-bucket-object-lock-enabled'],
    },
    {
      name: 'DeleteBucket',
      req: { method: 'DELETE', target: `/${B}/` },
      op: 'DeleteBucket',
      needs: [['s3:DeleteBucket', ARN]],
    },
    {
      name: 'ListBuckets',
      req: { target: '/?x-id=ListBuckets' },
      op: 'ListBuckets',
      needs: [['s3:ListAllMyBuckets', '*']],
    },
    {
      name: 'ListDirectoryBuckets is not told apart by x-id: it is ListBuckets',
      req: { target: '/?x-id=ListDirectoryBuckets' },
      op: 'ListBuckets',
      needs: [['s3:ListAllMyBuckets', '*']],
    },
    {
      name: 'POST on a bucket without ?delete is no operation',
      req: { method: 'POST', target: `/${B}` },
      reason: 'aws_op_unknown',
      message: /^no S3 operation is POST on a bucket$/,
    },
    {
      name: 'PATCH is no S3 operation',
      req: { method: 'PATCH', target: `/${B}/k` },
      reason: 'aws_op_unknown',
      message: /^no S3 operation is PATCH on an object$/,
    },
    {
      name: 'WriteGetObjectResponse is refused',
      req: { method: 'POST', target: '/WriteGetObjectResponse' },
      reason: 'aws_op_unknown',
      message: /host prefix/,
    },
    {
      name: 'a bucket name with an escape is refused',
      req: { target: '/amzn%2Dbucket/k' },
      reason: 'malformed_request',
      message: /is not a valid S3 bucket name$/,
    },
  ];
  runClassifyRows(t, rows, classify);
});

t.test('multipart upload flow (E8)', async (t) => {
  const rows: ClassifyRow[] = [
    {
      name: 'CreateMultipartUpload is s3:PutObject',
      req: { method: 'POST', target: `/${B}/out/big.bin?uploads` },
      op: 'CreateMultipartUpload',
      needs: [['s3:PutObject', `${ARN}/out/big.bin`]],
    },
    {
      name: 'UploadPart names its upload',
      req: { method: 'PUT', target: `/${B}/out/big.bin?x-id=UploadPart&partNumber=1&uploadId=UP1` },
      op: 'UploadPart',
      needs: [['s3:PutObject', `${ARN}/out/big.bin`]],
      uploadId: 'UP1',
    },
    {
      name: 'uploadId without partNumber is PutObject with a stray key',
      req: { method: 'PUT', target: `/${B}/out/big.bin?uploadId=UP1` },
      reason: 'query_not_allowed',
      message: /^PutObject does not take the query key 'uploadId'$/,
    },
    {
      name: 'CompleteMultipartUpload',
      req: { method: 'POST', target: `/${B}/out/big.bin?uploadId=UP1` },
      op: 'CompleteMultipartUpload',
      needs: [['s3:PutObject', `${ARN}/out/big.bin`]],
      uploadId: 'UP1',
    },
    {
      name: 'AbortMultipartUpload',
      req: { method: 'DELETE', target: `/${B}/out/big.bin?uploadId=UP1` },
      op: 'AbortMultipartUpload',
      needs: [['s3:AbortMultipartUpload', `${ARN}/out/big.bin`]],
      uploadId: 'UP1',
    },
    {
      name: 'ListParts',
      req: { target: `/${B}/out/big.bin?uploadId=UP1&max-parts=10` },
      op: 'ListParts',
      needs: [['s3:ListMultipartUploadParts', `${ARN}/out/big.bin`]],
      uploadId: 'UP1',
    },
    {
      name: 'UploadPartCopy also reads its source',
      req: {
        method: 'PUT',
        target: `/${B}/out/big.bin?partNumber=2&uploadId=UP1`,
        headers: {
          'x-amz-copy-source': '/confidential/secrets.csv',
          'x-amz-copy-source-range': 'bytes=0-1000',
        },
      },
      op: 'UploadPartCopy',
      needs: [
        ['s3:PutObject', `${ARN}/out/big.bin`],
        ['s3:GetObject', 'arn:aws:s3:::confidential/secrets.csv'],
      ],
      uploadId: 'UP1',
    },
  ];
  runClassifyRows(t, rows, classify);
});

t.test('x-amz-copy-source turns a PUT into a copy that reads the source (E2)', async (t) => {
  const put = (source: string, extra: Record<string, string> = {}) => ({
    method: 'PUT',
    target: `/${B}/out/result.json`,
    headers: { 'x-amz-copy-source': source, ...extra },
  });
  const dest = ['s3:PutObject', `${ARN}/out/result.json`] as const;
  const rows: ClassifyRow[] = [
    {
      name: 'leading slash',
      req: put('/confidential/secrets.csv'),
      op: 'CopyObject',
      needs: [dest, ['s3:GetObject', 'arn:aws:s3:::confidential/secrets.csv']],
      forward: ['x-amz-content-sha256', 'x-amz-copy-source'],
    },
    {
      name: 'no leading slash',
      req: put('confidential/secrets.csv'),
      op: 'CopyObject',
      needs: [dest, ['s3:GetObject', 'arn:aws:s3:::confidential/secrets.csv']],
    },
    {
      name: 'with versionId reads the version',
      req: put('/confidential/secrets.csv?versionId=v%2B1'),
      op: 'CopyObject',
      needs: [dest, ['s3:GetObjectVersion', 'arn:aws:s3:::confidential/secrets.csv']],
    },
    {
      name: 'URL-encoded key decoded once',
      req: put('confidential/a%20b%2Fc%252F'),
      op: 'CopyObject',
      needs: [dest, ['s3:GetObject', 'arn:aws:s3:::confidential/a b/c%2F']],
    },
    {
      name: 'metadata directive is sensitive',
      req: put('src/k', { 'x-amz-metadata-directive': 'REPLACE', 'x-amz-copy-source-if-match': '"e"' }),
      op: 'CopyObject',
      needs: [dest, ['s3:GetObject', 'arn:aws:s3:::src/k']],
      sensitive: ['x-amz-metadata-directive'],
      forward: [
        'x-amz-content-sha256',
        'x-amz-copy-source',
        'x-amz-copy-source-if-match',
        'x-amz-metadata-directive',
      ],
    },
    {
      name: 'an access point ARN as source is refused',
      req: put('arn:aws:s3:us-east-1:111122223333:accesspoint/ap/object/k'),
      reason: 'aws_op_unknown',
      message: /access point or Outposts ARN/,
    },
    {
      name: 'an encoded access point ARN too',
      req: put('arn%3Aaws%3As3%3Aus-east-1%3A111122223333%3Aaccesspoint%2Fap%2Fobject%2Fk'),
      reason: 'aws_op_unknown',
      message: /access point or Outposts ARN/,
    },
    {
      name: "a literal '+' is refused",
      req: put('src/a+b'),
      reason: 'malformed_request',
      message: /literal '\+'/,
    },
    { name: 'no key', req: put('src'), reason: 'malformed_request', message: /no key/ },
    { name: 'bad escape', req: put('src/%zz'), reason: 'malformed_request', message: /invalid escape/ },
    {
      name: 'a query other than versionId',
      req: put('src/k?partNumber=1'),
      reason: 'malformed_request',
      message: /other than versionId/,
    },
    {
      name: 'an invalid source bucket',
      req: put('/../k'),
      reason: 'malformed_request',
      message: /valid bucket name/,
    },
    {
      name: 'x-amz-copy-source on a GET is not GetObject',
      req: { target: `/${B}/k`, headers: { 'x-amz-copy-source': 'src/k' } },
      reason: 'header_not_allowed',
      message: /^header x-amz-copy-source is not part of GetObject/,
    },
  ];
  runClassifyRows(t, rows, classify);
});

t.test('headers: allowlist per operation, sensitive ones named (E3, J5)', async (t) => {
  const put = (headers: Record<string, string>) => ({ method: 'PUT', target: `/${B}/out/k`, headers });
  const need = [['s3:PutObject', `${ARN}/out/k`]] as const;
  const rows: ClassifyRow[] = [
    {
      name: 'x-amz-acl',
      req: put({ 'x-amz-acl': 'public-read' }),
      op: 'PutObject',
      needs: need,
      sensitive: ['x-amz-acl'],
    },
    {
      name: 'x-amz-grant-*',
      req: put({
        'x-amz-grant-read': 'uri="http://acs.amazonaws.com/groups/global/AllUsers"',
        'x-amz-grant-full-control': 'id=attacker',
      }),
      op: 'PutObject',
      needs: need,
      sensitive: ['x-amz-grant-full-control', 'x-amz-grant-read'],
    },
    {
      name: 'website redirect',
      req: put({ 'x-amz-website-redirect-location': 'https://evil.test/' }),
      op: 'PutObject',
      needs: need,
      sensitive: ['x-amz-website-redirect-location'],
    },
    {
      name: 'SSE-C key',
      req: put({
        'x-amz-server-side-encryption-customer-algorithm': 'AES256',
        'x-amz-server-side-encryption-customer-key': 'a2V5',
        'x-amz-server-side-encryption-customer-key-md5': 'bWQ1',
      }),
      op: 'PutObject',
      needs: need,
      sensitive: [
        'x-amz-server-side-encryption-customer-algorithm',
        'x-amz-server-side-encryption-customer-key',
        'x-amz-server-side-encryption-customer-key-md5',
      ],
    },
    {
      name: 'object lock',
      req: put({
        'x-amz-object-lock-mode': 'COMPLIANCE',
        'x-amz-object-lock-retain-until-date': '2099-01-01T00:00:00Z',
      }),
      op: 'PutObject',
      needs: need,
      sensitive: ['x-amz-object-lock-mode', 'x-amz-object-lock-retain-until-date'],
    },
    {
      name: 'storage class, tagging, requester pays',
      req: put({
        'x-amz-storage-class': 'DEEP_ARCHIVE',
        'x-amz-tagging': 'a=b',
        'x-amz-request-payer': 'requester',
      }),
      op: 'PutObject',
      needs: need,
      sensitive: ['x-amz-request-payer', 'x-amz-storage-class', 'x-amz-tagging'],
    },
    {
      name: 'harmless metadata, content and checksum headers are forwarded as sent',
      req: put({
        'x-amz-meta-note': 'hello',
        'content-type': 'text/plain',
        'cache-control': 'no-cache',
        'content-md5': 'bWQ1',
        'x-amz-checksum-crc32': 'AAAAAA==',
        'x-amz-sdk-checksum-algorithm': 'CRC32',
        'x-amz-expected-bucket-owner': '111122223333',
        'if-none-match': '*',
      }),
      op: 'PutObject',
      needs: need,
      forward: [
        'cache-control',
        'content-md5',
        'content-type',
        'if-none-match',
        'x-amz-checksum-crc32',
        'x-amz-content-sha256',
        'x-amz-expected-bucket-owner',
        'x-amz-meta-note',
        'x-amz-sdk-checksum-algorithm',
      ],
    },
    {
      name: 'transport, framing and the agent auth are dropped',
      req: put({
        'content-length': '5',
        expect: '100-continue',
        accept: '*/*',
        'accept-encoding': 'gzip',
        'amz-sdk-request': 'attempt=1; max=3',
        'x-amz-user-agent': 'aws-sdk-js/3',
        'x-amz-security-token': 'agent-token',
        connection: 'keep-alive',
      }),
      op: 'PutObject',
      needs: need,
      forward: ['x-amz-content-sha256'],
    },
    {
      name: 'aws-chunked is removed from Content-Encoding and flagged',
      req: put({
        'content-encoding': 'aws-chunked, gzip',
        'x-amz-decoded-content-length': '5',
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      }),
      op: 'PutObject',
      needs: need,
      forward: ['content-encoding', 'x-amz-content-sha256', 'x-amz-decoded-content-length', 'x-amz-trailer'],
    },
    {
      name: 'x-amz-acl on a GET is not part of GetObject',
      req: { target: `/${B}/k`, headers: { 'x-amz-acl': 'public-read' } },
      reason: 'header_not_allowed',
      message:
        /^header x-amz-acl is not part of GetObject; Errand forwards only the headers the operation takes$/,
    },
    {
      name: 'unknown x-amz-* header',
      req: put({ 'x-amz-foo': 'bar' }),
      reason: 'header_not_allowed',
      message: /^header x-amz-foo is not part of PutObject/,
    },
    {
      name: 'X-Forwarded-Host',
      req: put({ 'x-forwarded-host': 'evil.test' }),
      reason: 'header_not_allowed',
      message: /x-forwarded-host/,
    },
    {
      name: 'Forwarded',
      req: put({ forwarded: 'host=evil.test' }),
      reason: 'header_not_allowed',
      message: /forwarded/,
    },
    {
      name: 'X-Original-URL',
      req: put({ 'x-original-url': '/admin' }),
      reason: 'header_not_allowed',
      message: /x-original-url/,
    },
    { name: 'Cookie', req: put({ cookie: 'a=b' }), reason: 'header_not_allowed', message: /cookie/ },
  ];
  runClassifyRows(t, rows, classify);

  t.test('Content-Encoding of only aws-chunked is not forwarded; the body is flagged', async (t) => {
    const { awsRequest } = await import('../helpers/classify-request.ts');
    const c = classifyAws(awsRequest(put({ 'content-encoding': 'aws-chunked' })), CTX, undefined);
    t.ok(c.ok);
    if (!c.ok) return;
    t.equal(c.intent.awsChunked, true);
    t.notOk(c.intent.forwardHeaders.some(([k]) => k === 'content-encoding'));
    const gz = classifyAws(awsRequest(put({ 'content-encoding': 'gzip' })), CTX, undefined);
    t.same(gz.ok && gz.intent.forwardHeaders.find(([k]) => k === 'content-encoding'), [
      'content-encoding',
      'gzip',
    ]);
    t.equal(gz.ok && gz.intent.awsChunked, false);
  });
});

const xml = (objects: string, root = '<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">') =>
  `<?xml version="1.0" encoding="UTF-8"?>${root}${objects}<Quiet>true</Quiet></Delete>`;

t.test('DeleteObjects: one need per key, parsed strictly', async (t) => {
  const post = { method: 'POST', target: `/${B}?delete` };
  const rows: ClassifyRow[] = [
    {
      name: 'two keys and a version',
      req: post,
      body: xml(
        '<Object><Key>a.txt</Key></Object><Object><Key>b.txt</Key><VersionId>v1</VersionId></Object>',
      ),
      op: 'DeleteObjects',
      needs: [
        ['s3:DeleteObject', `${ARN}/a.txt`],
        ['s3:DeleteObjectVersion', `${ARN}/b.txt`],
      ],
    },
    {
      name: 'entities and character references are decoded',
      req: post,
      body: xml('<Object><Key>a&amp;b&lt;c&#x2F;d&#233;</Key></Object>'),
      op: 'DeleteObjects',
      needs: [['s3:DeleteObject', `${ARN}/a&b<c/dé`]],
    },
    {
      name: 'end-of-line normalization: raw CRLF reads as LF, &#13; stays CR',
      req: post,
      body: xml('<Object><Key>a\r\nb</Key></Object><Object><Key>c&#13;d</Key></Object>'),
      op: 'DeleteObjects',
      needs: [
        ['s3:DeleteObject', `${ARN}/a\nb`],
        ['s3:DeleteObject', `${ARN}/c\rd`],
      ],
    },
    {
      name: 'repeated keys need once',
      req: post,
      body: xml('<Object><Key>a</Key></Object>\n  <Object><Key>a</Key></Object>'),
      op: 'DeleteObjects',
      needs: [['s3:DeleteObject', `${ARN}/a`]],
    },
    {
      name: 'conditional delete members are accepted',
      req: post,
      body: xml('<Object><Key>a</Key><ETag>"e"</ETag><Size>3</Size></Object>'),
      op: 'DeleteObjects',
      needs: [['s3:DeleteObject', `${ARN}/a`]],
    },
    {
      name: 'no body',
      req: post,
      reason: 'malformed_request',
      message: /^DeleteObjects needs its request body$/,
    },
    {
      name: 'a DTD',
      req: post,
      body: '<?xml version="1.0"?><!DOCTYPE Delete [<!ENTITY k "secret">]><Delete><Object><Key>&k;</Key></Object></Delete>',
      reason: 'malformed_request',
      message: /^the Delete document is refused: unsupported markup/,
    },
    {
      name: 'an undeclared entity',
      req: post,
      body: xml('<Object><Key>&k;</Key></Object>'),
      reason: 'malformed_request',
      message: /unsupported entity reference/,
    },
    {
      name: 'a comment',
      req: post,
      body: xml('<!-- x --><Object><Key>a</Key></Object>'),
      reason: 'malformed_request',
      message: /unsupported markup/,
    },
    {
      name: 'CDATA',
      req: post,
      body: xml('<Object><Key><![CDATA[a]]></Key></Object>'),
      reason: 'malformed_request',
      message: /unsupported markup/,
    },
    {
      name: 'a self-closing element',
      req: post,
      body: xml('<Object><Key>a</Key><VersionId/></Object>'),
      reason: 'malformed_request',
      message: /unsupported markup/,
    },
    { name: 'no object', req: post, body: xml(''), reason: 'malformed_request', message: /no <Object>/ },
    {
      name: 'an object without a key',
      req: post,
      body: xml('<Object><VersionId>v</VersionId></Object>'),
      reason: 'malformed_request',
      message: /without a <Key>/,
    },
    {
      name: 'an empty key',
      req: post,
      body: xml('<Object><Key></Key></Object>'),
      reason: 'malformed_request',
      message: /without a <Key>/,
    },
    {
      name: 'two keys in one object',
      req: post,
      body: xml('<Object><Key>a</Key><Key>b</Key></Object>'),
      reason: 'malformed_request',
      message: /<Key> appears twice/,
    },
    {
      name: 'an unknown element',
      req: post,
      body: xml('<Object><Key>a</Key><Evil>b</Evil></Object>'),
      reason: 'malformed_request',
      message: /unexpected element <Evil>/,
    },
    {
      name: 'an unknown child of Delete',
      req: post,
      body: xml('<Bucket>other</Bucket><Object><Key>a</Key></Object>'),
      reason: 'malformed_request',
      message: /unexpected element <Bucket>/,
    },
    {
      name: 'the wrong root',
      req: post,
      body: '<Remove><Object><Key>a</Key></Object></Remove>',
      reason: 'malformed_request',
      message: /root element is not <Delete>/,
    },
    {
      name: 'another namespace',
      req: post,
      body: xml('<Object><Key>a</Key></Object>', '<Delete xmlns="urn:evil">'),
      reason: 'malformed_request',
      message: /unexpected namespace/,
    },
    {
      name: 'a prefixed element',
      req: post,
      body: '<s3:Delete xmlns:s3="x"><Object><Key>a</Key></Object></s3:Delete>',
      reason: 'malformed_request',
      message: /unsupported markup/,
    },
    {
      name: 'mismatched close',
      req: post,
      body: xml('<Object><Key>a</Object></Key>'),
      reason: 'malformed_request',
      message: /expected <\/Key>/,
    },
    {
      name: 'text between elements',
      req: post,
      body: xml('x<Object><Key>a</Key></Object>'),
      reason: 'malformed_request',
      message: /unexpected text/,
    },
    {
      name: 'content after the document',
      req: post,
      body: `${xml('<Object><Key>a</Key></Object>')}<Delete/>`,
      reason: 'malformed_request',
      message: /content after the document/,
    },
    {
      name: 'a reference to NUL',
      req: post,
      body: xml('<Object><Key>a&#0;</Key></Object>'),
      reason: 'malformed_request',
      message: /illegal character/,
    },
    {
      name: 'a raw control character',
      req: post,
      body: xml('<Object><Key>a\u0001</Key></Object>'),
      reason: 'malformed_request',
      message: /illegal character/,
    },
    {
      name: "']]>' in text",
      req: post,
      body: xml('<Object><Key>a]]>b</Key></Object>'),
      reason: 'malformed_request',
      message: /']]>'/,
    },
    {
      name: 'Quiet must be a boolean',
      req: post,
      body: '<Delete><Object><Key>a</Key></Object><Quiet>yes</Quiet></Delete>',
      reason: 'malformed_request',
      message: /<Quiet>/,
    },
    {
      name: 'a byte-order mark',
      req: post,
      body: `\uFEFF${xml('<Object><Key>a</Key></Object>')}`,
      reason: 'malformed_request',
      message: /byte-order mark/,
    },
    {
      name: 'invalid UTF-8',
      req: post,
      body: new Uint8Array([0x3c, 0xff, 0x3e]),
      reason: 'malformed_request',
      message: /not valid UTF-8/,
    },
    {
      name: 'more than 1,000 objects',
      req: post,
      body: xml('<Object><Key>k</Key></Object>'.repeat(1001)),
      reason: 'malformed_request',
      message: /more than 1000 objects/,
    },
    {
      name: 'a body over the bound',
      req: post,
      body: new Uint8Array(2 * 1024 * 1024 + 1),
      reason: 'body_too_large',
      message: /larger than the 2097152 bytes/,
    },
  ];
  runClassifyRows(t, rows, classify);
});

t.test('virtual-hosted addressing on a local name', async (t) => {
  runClassifyRows(
    t,
    [
      {
        name: 'bucket.localhost:4750 + /key',
        req: { target: '/dir/k.txt', headers: { host: `${B}.localhost:4750` } },
        op: 'GetObject',
        needs: [['s3:GetObject', `${ARN}/dir/k.txt`]],
      },
      {
        name: 'bucket.localhost:4750 + / is the bucket',
        req: { target: '/?list-type=2&prefix=a', headers: { host: `${B}.localhost:4750` } },
        op: 'ListObjectsV2',
        needs: [['s3:ListBucket', ARN, 'a']],
      },
      {
        name: 'never on an IP literal',
        req: { target: '/k', headers: { host: `${B}.127.0.0.1:4750` } },
        reason: 'bad_host',
        message: /is not this endpoint \(expected 127\.0\.0\.1:4750 or localhost:4750\)$/,
      },
      {
        name: 'never for another service',
        req: {
          method: 'POST',
          target: '/',
          signedFor: 'dynamodb',
          headers: { host: 'tbl.localhost:4750', 'x-amz-target': 'DynamoDB_20120810.ListTables' },
        },
        body: '{}',
        reason: 'bad_host',
      },
      {
        name: 'a bucket label that is not a bucket name',
        req: { target: '/k', headers: { host: 'UPPER_case.localhost:4750' } },
        reason: 'bad_host',
      },
    ],
    classify,
  );
});
