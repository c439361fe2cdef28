import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// Named limits on the HTTP-grant path: the grant's maxBodyBytes (413, declared or streamed, the
// upstream request aborted so nothing partial is committed), and no 100 Continue before a decision.

t.test('bodies over the grant limit', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([
      apiGrant({ id: 'put', method: 'PUT', path: '/v1/blob', uses: 'unlimited', maxBodyBytes: 100 }),
    ]),
  );
  const declared = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('PUT', '/v1/blob', { body: 'x'.repeat(200) }),
  );
  t.same(declared.statuses, [413], 'a declared length over the cap: 413');
  t.same(denyReasons(declared.text), ['body_too_large']);

  const chunk = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n`;
  const streamed = await tunnelExchange(h, 'api.acme.test:443', [
    'PUT /v1/blob HTTP/1.1\r\nHost: api.acme.test\r\nTransfer-Encoding: chunked\r\n\r\n',
    chunk('y'.repeat(60)),
    chunk('y'.repeat(60)),
    '0\r\n\r\n',
  ]);
  t.same(streamed.statuses, [413], 'a chunked body that grows over the cap: 413');
  t.equal(h.upstream.requests.length, 0, 'the upstream never completed a request');

  const fits = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('PUT', '/v1/blob', { body: 'z'.repeat(100) }),
  );
  t.same(fits.statuses, [200], 'at the cap: forwarded');
  t.equal(h.upstream.requests[0]?.body.length, 100);
});

t.test('Expect: 100-continue is answered only after the decision', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([apiGrant({ id: 'put', method: 'PUT', path: '/v1/blob', uses: 1 })]),
  );
  const denied = await tunnelExchange(
    h,
    'api.acme.test:443',
    'PUT /v1/other HTTP/1.1\r\nHost: api.acme.test\r\nContent-Length: 5368709120\r\nExpect: 100-continue\r\n\r\n',
  );
  t.same(denied.statuses, [403], 'refused at once');
  t.notMatch(denied.text, /100 Continue/, 'no 100 Continue for a refused request');
  const allowed = await tunnelExchange(h, 'api.acme.test:443', [
    'PUT /v1/blob HTTP/1.1\r\nHost: api.acme.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
    'hello',
  ]);
  t.match(allowed.text, /^HTTP\/1\.1 100 Continue/, 'an authorized request gets its 100 Continue');
  t.same(allowed.statuses, [100, 200]);
  t.equal(h.upstream.requests[0]?.body.toString(), 'hello');
});
