// E4 at the classifier: the bucket comes from the request as S3 would read it, and the Host must
// be this endpoint (or, intercepted on the forward listener, the manifest region's real S3 host).

import t from 'tap';
import { classifyAws } from '../../src/classify/aws.ts';
import { awsRequest, CTX } from '../helpers/classify-request.ts';

const forward = (host: string, target: string, port = 443) =>
  awsRequest({
    target,
    listener: 'forward',
    origin: { host, port, scheme: 'https' },
    headers: { host: port === 443 ? host : `${host}:${port}` },
  });

t.test('path-style: the first segment is the bucket', async (t) => {
  const c = classifyAws(awsRequest({ target: '/other-bucket/k' }), CTX, undefined);
  t.same(c.ok && c.intent.needs, [{ action: 's3:GetObject', resource: 'arn:aws:s3:::other-bucket/k' }]);
  t.same(c.ok && c.intent.s3, { bucket: 'other-bucket', rawKey: 'k' });
});

t.test('Host of a real S3 endpoint on the endpoint listener is not this endpoint', async (t) => {
  for (const host of [
    's3.us-east-1.amazonaws.com',
    'other-bucket.s3.us-east-1.amazonaws.com',
    'allowed-bucket.s3.evil.test',
  ]) {
    const c = classifyAws(awsRequest({ target: '/allowed-bucket/k', headers: { host } }), CTX, undefined);
    t.equal(c.ok || c.reason, 'bad_host', host);
    if (!c.ok) t.match(c.message, /is not this endpoint/);
  }
});

t.test('virtual-hosted on the forward listener: the Host names the bucket, the path the key', async (t) => {
  const c = classifyAws(
    forward('other-bucket.s3.us-east-1.amazonaws.com', '/allowed-bucket/k'),
    CTX,
    undefined,
  );
  t.same(c.ok && c.intent.needs, [
    { action: 's3:GetObject', resource: 'arn:aws:s3:::other-bucket/allowed-bucket/k' },
  ]);
  const dotted = classifyAws(forward('my.allowed.bucket.s3.us-east-1.amazonaws.com', '/k'), CTX, undefined);
  t.same(dotted.ok && dotted.intent.s3, { bucket: 'my.allowed.bucket', rawKey: 'k' });
  const path = classifyAws(forward('s3.us-east-1.amazonaws.com', '/allowed-bucket/k'), CTX, undefined);
  t.same(path.ok && path.intent.s3, { bucket: 'allowed-bucket', rawKey: 'k' });
});

t.test('hosts Errand does not serve are bad_host', async (t) => {
  const cases: [string, number, RegExp][] = [
    ['allowed-bucket.s3.evil.test', 443, /is not an AWS endpoint Errand serves$/],
    ['ap-111122223333.s3-accesspoint.us-east-1.amazonaws.com', 443, /is not an AWS endpoint/],
    ['mrap.mrap.accesspoint.s3-global.amazonaws.com', 443, /is not an AWS endpoint/],
    ['s3-fips.dualstack.us-east-1.amazonaws.com', 443, /is not an AWS endpoint/],
    ['s3.us-east-1.amazonaws.com', 8443, /is not an AWS endpoint/],
    [
      's3.us-west-2.amazonaws.com',
      443,
      /^the Host names region us-west-2; this task works only in us-east-1$/,
    ],
    ['Bad_Bucket.s3.us-east-1.amazonaws.com', 443, /valid bucket name/],
  ];
  for (const [host, port, message] of cases) {
    const c = classifyAws(forward(host.toLowerCase(), '/k', port), CTX, undefined);
    t.equal(c.ok || c.reason, 'bad_host', host);
    if (!c.ok) t.match(c.message, message, `${host} message`);
  }
});

t.test('the Host service must be the request service', async (t) => {
  const c = classifyAws(
    awsRequest({
      method: 'POST',
      target: '/',
      signedFor: false,
      listener: 'forward',
      origin: { host: 'dynamodb.us-east-1.amazonaws.com', port: 443, scheme: 'https' },
      headers: { host: 'dynamodb.us-east-1.amazonaws.com', 'x-amz-target': 'AmazonSQS.ListQueues' },
    }),
    CTX,
    new TextEncoder().encode('{}'),
  );
  t.equal(c.ok || c.reason, 'bad_host');
  if (!c.ok) t.match(c.message, /^the Host names service dynamodb, but it is a sqs request$/);
});

t.test('a bucket named like an access point ARN is refused', async (t) => {
  const c = classifyAws(
    awsRequest({ target: '/arn%3Aaws%3As3%3Aus-east-1%3A111122223333%3Aaccesspoint%2Fap/k' }),
    CTX,
    undefined,
  );
  t.equal(c.ok || c.reason, 'malformed_request');
});

// Through the running sidecar: virtual-hosted addressing on the named endpoint reaches the classifier,
// while a Host that is not this endpoint never does.
t.test('e4 end to end: bucket.localhost is accepted, other hosts are bad_host', async (t) => {
  const { harness, REPORT_KEY } = await import('../helpers/adversarial.ts');
  const h = await harness(t);
  const ok = await h.raw(
    `GET /${REPORT_KEY} HTTP/1.1\r\nHost: acme-uploads.localhost:${h.port}\r\nAuthorization: ${h.auth}\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n`,
  );
  t.equal(ok.statuses[0], 200, 'virtual-hosted on localhost');
  t.equal(
    h.upstream.requests[0]?.url,
    `/acme-uploads/${REPORT_KEY}`,
    'sent path-style to the configured upstream',
  );
  for (const host of [
    `other-bucket.s3.us-east-1.amazonaws.com`,
    `acme-uploads.s3.evil.test`,
    `a.b.localhost:${h.port}`,
    `acme-uploads.127.0.0.1:${h.port}`,
  ]) {
    const r = await h.raw(`GET /${REPORT_KEY} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${h.auth}\r\n\r\n`);
    t.ok([400, 403].includes(r.statuses[0] ?? 0), `${host} → ${r.statuses[0]}`);
  }
  t.equal(h.upstream.requests.length, 1);
});
