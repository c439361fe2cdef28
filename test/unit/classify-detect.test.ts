// The entry points the proxy calls before it has a body: which service, whether the body must be
// read (and how much), and the error shape the service's clients parse.

import t from 'tap';
import {
  awsBodyNeeded,
  classifyAws,
  DROPPED_AWS_HEADERS,
  detectAwsService,
  protocolOfService,
} from '../../src/classify/aws.ts';
import { parseCredentialScope } from '../../src/classify/aws-scope.ts';
import { awsRequest, CTX, type RequestSpec, sigv4, utf8 } from '../helpers/classify-request.ts';

const form = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };

t.test('detectAwsService: protocol evidence, and the scope must agree', async (t) => {
  const rows: [string, RequestSpec, string | [string, RegExp]][] = [
    ['S3 path-style', { target: '/amzn-s3-demo-bucket/k' }, 's3'],
    [
      'DynamoDB by target',
      {
        method: 'POST',
        target: '/',
        signedFor: 'dynamodb',
        headers: { 'x-amz-target': 'DynamoDB_20120810.GetItem' },
      },
      'dynamodb',
    ],
    [
      'SQS by target',
      { method: 'POST', target: '/', signedFor: 'sqs', headers: { 'x-amz-target': 'AmazonSQS.SendMessage' } },
      'sqs',
    ],
    [
      'KMS by target',
      { method: 'POST', target: '/', signedFor: 'kms', headers: { 'x-amz-target': 'TrentService.Encrypt' } },
      'kms',
    ],
    ['SNS form', { method: 'POST', target: '/', signedFor: 'sns', headers: form }, 'sns'],
    ['STS form', { method: 'POST', target: '/', signedFor: 'sts', headers: form }, 'sts'],
    [
      'SQS legacy form',
      { method: 'POST', target: '/111122223333/q', signedFor: 'sqs', headers: form },
      'sqs',
    ],
    [
      'an S3 upload with a form content type',
      { method: 'POST', target: '/amzn-s3-demo-bucket/k?uploads', headers: form },
      's3',
    ],
    [
      'Lambda signed',
      { method: 'POST', target: '/2015-03-31/functions/f/invocations', signedFor: 'lambda' },
      'lambda',
    ],
    ['Bedrock signed', { method: 'POST', target: '/model/m/invoke', signedFor: 'bedrock' }, 'bedrock'],
    [
      'an unsigned form',
      { method: 'POST', target: '/', signedFor: false, headers: form },
      ['aws_op_unknown', /^a form POST does not say which service it is for/],
    ],
    [
      'a form signed for DynamoDB',
      { method: 'POST', target: '/', signedFor: 'dynamodb', headers: form },
      ['bad_host', /^the request is signed for service dynamodb, but carries none of its protocol evidence/],
    ],
    [
      'a target of one service signed for another',
      { method: 'POST', target: '/', signedFor: 'kms', headers: { 'x-amz-target': 'AmazonSQS.SendMessage' } },
      ['bad_host', /^the request is signed for service kms, but it is a sqs request$/],
    ],
    [
      'an unknown target',
      { method: 'POST', target: '/', headers: { 'x-amz-target': 'Evil.Op' } },
      ['aws_op_unknown', /names no service/],
    ],
    [
      'a target without a dot',
      { method: 'POST', target: '/', headers: { 'x-amz-target': 'GetItem' } },
      ['aws_op_unknown', /names no service/],
    ],
    [
      'a service Errand does not know',
      { target: '/x', signedFor: 'ec2' },
      ['bad_host', /signed for service ec2/],
    ],
  ];
  for (const [name, spec, expected] of rows) {
    const request = awsRequest(spec);
    const d = detectAwsService(request);
    if (typeof expected === 'string') {
      // The service, and the scope the agent signed (classifyAws reuses it, so it is the parsed one).
      t.same(d.ok ? { ok: d.ok, service: d.service } : d, { ok: true, service: expected }, name);
      const scope = parseCredentialScope(request.headers.get('authorization'));
      t.same(d.ok ? d.scope : 'deny', scope.ok ? scope.scope : 'malformed', `${name}: scope`);
    } else {
      t.equal(d.ok || d.reason, expected[0], name);
      if (!d.ok) t.match(d.message, expected[1], `${name}: message`);
    }
  }
});

t.test('awsBodyNeeded: only bodies that decide the operation or resource', async (t) => {
  const rows: [string, RequestSpec, string, { needed: boolean; limit: number }][] = [
    ['S3 GetObject', { target: '/b/k' }, 's3', { needed: false, limit: 0 }],
    ['S3 PutObject streams', { method: 'PUT', target: '/b/k' }, 's3', { needed: false, limit: 0 }],
    [
      'S3 DeleteObjects',
      { method: 'POST', target: '/b?delete' },
      's3',
      { needed: true, limit: 2 * 1024 * 1024 },
    ],
    ['DynamoDB', { method: 'POST', target: '/' }, 'dynamodb', { needed: true, limit: 16 * 1024 * 1024 }],
    ['SQS', { method: 'POST', target: '/' }, 'sqs', { needed: true, limit: 2 * 1024 * 1024 }],
    ['SNS', { method: 'POST', target: '/' }, 'sns', { needed: true, limit: 1024 * 1024 }],
    [
      'STS (to name the refused operation)',
      { method: 'POST', target: '/' },
      'sts',
      { needed: true, limit: 64 * 1024 },
    ],
    [
      'Lambda (resource in the path)',
      { method: 'POST', target: '/2015-03-31/functions/f/invocations' },
      'lambda',
      { needed: false, limit: 0 },
    ],
    [
      'Bedrock (resource in the path)',
      { method: 'POST', target: '/model/m/invoke' },
      'bedrock',
      { needed: false, limit: 0 },
    ],
    ['an unknown service', { target: '/' }, 'ec2', { needed: false, limit: 0 }],
  ];
  for (const [name, spec, service, expected] of rows)
    t.same(awsBodyNeeded(awsRequest(spec), service), expected, name);
});

t.test('protocolOfService: the error shape clients parse', async (t) => {
  const rows: [string, string][] = [
    ['s3', 'restXml'],
    ['dynamodb', 'awsJson'],
    ['sqs', 'awsJson'],
    ['kms', 'awsJson'],
    ['sns', 'awsQuery'],
    ['sts', 'awsQuery'],
    ['lambda', 'restJson'],
    ['bedrock', 'restJson'],
    ['ec2', 'restXml'],
  ];
  for (const [service, protocol] of rows) t.equal(protocolOfService(service), protocol, service);
});

t.test('the dropped header list is what the proxy strips', async (t) => {
  t.same([...DROPPED_AWS_HEADERS].sort(), [
    'accept',
    'accept-encoding',
    'amz-sdk-invocation-id',
    'amz-sdk-request',
    'connection',
    'content-length',
    'expect',
    'host',
    'keep-alive',
    'transfer-encoding',
    'user-agent',
    'x-amz-user-agent',
  ]);
  t.ok(Object.isFrozen(DROPPED_AWS_HEADERS));
});

t.test('classifyAws given the detection of the same request: the same answer, parsed once', async (t) => {
  const rows: [string, RequestSpec, string | undefined, true | string][] = [
    ['S3 GetObject', { target: '/bucket/key.txt' }, undefined, true],
    [
      'S3 signed for another region',
      { target: '/bucket/key.txt', signedFor: false, headers: { authorization: sigv4('s3', 'eu-west-1') } },
      undefined,
      'bad_host',
    ],
    [
      'a host that is not this endpoint',
      { target: '/bucket/k', headers: { host: 'evil.example:4750' } },
      undefined,
      'bad_host',
    ],
    [
      'this endpoint, host in upper case',
      { target: '/bucket/k', headers: { host: 'LOCALHOST:4750' } },
      undefined,
      true,
    ],
    [
      'virtual-hosted bucket on localhost',
      { target: '/k', headers: { host: 'bucket.localhost:4750' } },
      undefined,
      true,
    ],
    [
      'DynamoDB',
      {
        method: 'POST',
        target: '/',
        signedFor: 'dynamodb',
        headers: {
          'x-amz-target': 'DynamoDB_20120810.GetItem',
          'content-type': 'application/x-amz-json-1.0',
        },
      },
      '{"TableName":"reports","Key":{"id":{"S":"1"}}}',
      true,
    ],
  ];
  for (const [name, spec, text, outcome] of rows) {
    const request = awsRequest(spec);
    const body = text === undefined ? undefined : utf8(text);
    const detected = detectAwsService(request);
    t.ok(detected.ok, `${name}: detected`);
    if (!detected.ok) continue;
    const once = classifyAws(request, CTX, body, detected);
    t.same(once, classifyAws(request, CTX, body), name);
    t.equal(once.ok || once.reason, outcome, `${name}: outcome`);
  }
});
