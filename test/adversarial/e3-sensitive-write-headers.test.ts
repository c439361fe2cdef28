import t from 'tap';
import { harness, OUT_KEY, s3Request } from '../helpers/adversarial.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { inMinutes } from '../helpers/sidecar.ts';

// E3: headers that change visibility, ownership or availability of a written object are refused
// unless the grant names them — refused, not stripped, so the agent learns what it may not do.
const HEADERS = [
  'x-amz-acl: public-read',
  'x-amz-grant-read: uri="http://acs.amazonaws.com/groups/global/AllUsers"',
  'x-amz-grant-full-control: id=0123456789abcdef',
  'x-amz-website-redirect-location: https://evil.test/',
  'x-amz-server-side-encryption-customer-key: QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=',
  'x-amz-object-lock-mode: COMPLIANCE',
  'x-amz-storage-class: DEEP_ARCHIVE',
  'x-amz-tagging: a=b',
  'x-amz-request-payer: requester',
];

t.test('each sensitive header on an allowed PutObject is refused with header_not_allowed', async (t) => {
  const h = await harness(t);
  for (const header of HEADERS) {
    const r = await h.raw(
      s3Request(h, 'PUT', `/acme-uploads/${OUT_KEY}`, [header, 'Content-Length: 2'], 'hi'),
    );
    t.equal(r.statuses[0], 403, header);
    t.match(r.text, /header_not_allowed/, header);
  }
  t.equal(h.upstream.requests.length, 0);
});

t.test('a header the grant allows is forwarded and signed', async (t) => {
  const m = manifestWith(
    [
      awsGrant({
        id: 'write',
        action: 's3:PutObject',
        resources: [`arn:aws:s3:::acme-uploads/${OUT_KEY}`],
        allowHeaders: ['x-amz-server-side-encryption'],
      }),
    ],
    [],
    inMinutes(30),
  );
  const h = await harness(t, m);
  const r = await h.raw(
    s3Request(
      h,
      'PUT',
      `/acme-uploads/${OUT_KEY}`,
      ['x-amz-server-side-encryption: AES256', 'Content-Length: 2'],
      'hi',
    ),
  );
  t.equal(r.statuses[0], 200);
  const sent = h.upstream.requests[0]!;
  t.equal(sent.headers['x-amz-server-side-encryption'], 'AES256');
  t.match(
    String(sent.headers['authorization']),
    /SignedHeaders=[^,]*x-amz-server-side-encryption/,
    'and it is signed',
  );
});

t.test('large x-amz-meta-* values are forwarded only signed, never beyond the header bound', async (t) => {
  const h = await harness(t);
  const r = await h.raw(
    s3Request(
      h,
      'PUT',
      `/acme-uploads/${OUT_KEY}`,
      [`x-amz-meta-note: ${'m'.repeat(10 * 1024)}`, 'Content-Length: 2'],
      'hi',
    ),
  );
  if (r.statuses[0] === 200) {
    const sent = h.upstream.requests[0]!;
    t.match(String(sent.headers['authorization']), /x-amz-meta-note/, 'a forwarded meta header is signed');
  } else {
    t.ok([403, 431].includes(r.statuses[0] ?? 0), `refused with ${r.statuses[0]}`);
    t.equal(h.upstream.requests.length, 0);
  }
});
