// E10 at the classifier: the agent's signature is never re-used and never obeyed. Query-string
// auth (presigned SigV4, SigV2) is refused; header auth is dropped from what is forwarded, and its
// credential scope must name the detected service and the manifest's region.

import t from 'tap';
import {
  AGENT_AUTH_HEADERS,
  classifyAws,
  detectAwsService,
  QUERY_AUTH_PARAMETERS,
} from '../../src/classify/aws.ts';
import { awsRequest, CTX, sigv4 } from '../helpers/classify-request.ts';

const OBJ = '/amzn-s3-demo-bucket/k';

t.test('query-string auth parameters are refused in any case', async (t) => {
  const queries = [
    '?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00&X-Amz-Expires=604800&X-Amz-SignedHeaders=host&X-Amz-Date=20260101T000000Z',
    '?X-Amz-Signature=00',
    '?x-amz-credential=AKIA',
    '?X-Amz-Security-Token=token',
    '?AWSAccessKeyId=AKIA&Signature=abc&Expires=4102444800',
    '?signature=abc',
    '?x-id=GetObject&X-Amz-Expires=60',
  ];
  for (const q of queries) {
    const req = awsRequest({ target: `${OBJ}${q}`, signedFor: false });
    for (const result of [detectAwsService(req), classifyAws(req, CTX, undefined)]) {
      t.equal(result.ok || result.reason, 'auth_material_from_agent', q);
      if (!result.ok)
        t.match(
          result.message,
          /presigned or agent-signed requests are not accepted, Errand signs every request itself$/,
        );
    }
  }
  t.ok(QUERY_AUTH_PARAMETERS.includes('x-amz-signature'));
});

t.test('header auth is dropped, never forwarded', async (t) => {
  const c = classifyAws(
    awsRequest({
      target: OBJ,
      headers: { 'x-amz-security-token': 'agent', 'x-amz-date': '20190101T000000Z' },
    }),
    CTX,
    undefined,
  );
  t.ok(c.ok);
  if (!c.ok) return;
  for (const h of AGENT_AUTH_HEADERS)
    t.notOk(
      c.intent.forwardHeaders.some(([k]) => k === h),
      `${h} is not forwarded`,
    );
});

t.test('the agent credential scope must agree with the service and the region', async (t) => {
  const cases: [string, Record<string, string>, string, RegExp][] = [
    [
      'scope for sts on an S3 request',
      { authorization: sigv4('sts') },
      'bad_host',
      /^the request is signed for service sts, but carries none of its protocol evidence \(X-Amz-Target or a form body\)$/,
    ],
    [
      'scope for dynamodb on an S3 request',
      { authorization: sigv4('dynamodb') },
      'bad_host',
      /signed for service dynamodb/,
    ],
    [
      'scope for another region',
      { authorization: sigv4('s3', 'cn-north-1') },
      'bad_host',
      /^the request is signed for region cn-north-1; this task works only in us-east-1$/,
    ],
    [
      'SigV2 header',
      { authorization: 'AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=' },
      'malformed_request',
      /not AWS Signature Version 4/,
    ],
    [
      'SigV4a header',
      { authorization: 'AWS4-ECDSA-P256-SHA256 Credential=AKIA/20260101/s3/aws4_request' },
      'malformed_request',
      /not AWS Signature Version 4/,
    ],
    [
      'a scope without its terminator',
      { authorization: 'AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/s3/x' },
      'malformed_request',
      /no valid Credential/,
    ],
    [
      'two Credential fields',
      { authorization: `${sigv4('s3')}, Credential=AKIA/20260101/eu-west-1/s3/aws4_request` },
      'malformed_request',
      /no valid Credential/,
    ],
  ];
  for (const [name, headers, reason, message] of cases) {
    const c = classifyAws(awsRequest({ target: OBJ, headers }), CTX, undefined);
    t.equal(c.ok || c.reason, reason, name);
    if (!c.ok) t.match(c.message, message, `${name}: message`);
  }
});

t.test('an X-Amz-Target with an S3 scope is refused, not re-targeted', async (t) => {
  const c = classifyAws(
    awsRequest({ method: 'POST', target: '/', headers: { 'x-amz-target': 'DynamoDB_20120810.ListTables' } }),
    CTX,
    new TextEncoder().encode('{}'),
  );
  t.equal(c.ok || c.reason, 'bad_host');
  if (!c.ok) t.match(c.message, /^the request is signed for service s3, but it is a dynamodb request$/);
});
