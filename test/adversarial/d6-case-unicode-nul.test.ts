import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// D6: paths match case-sensitively; escapes that decode to invalid UTF-8 or NUL, bad escapes and raw
// non-ASCII bytes are 400; look-alike characters simply do not match.

t.test('case, Unicode and NUL', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([apiGrant({ id: 'repos', path: '/v1/repos/x', uses: 'unlimited' })]),
  );
  const cases: [string | Buffer, number, string | undefined][] = [
    ['/V1/Repos/x', 403, 'not_in_manifest'],
    ['/v1/%EF%BD%92epos/x', 403, 'not_in_manifest'],
    ['/v1/repos/%c0%ae%c0%ae/', 400, 'malformed_request'],
    ['/v1/repos%00/admin', 400, 'malformed_request'],
    ['/v1/repos/%ZZ', 400, 'malformed_request'],
    ['/v1/repos/%', 400, 'malformed_request'],
  ];
  for (const [path, status, reason] of cases) {
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', String(path)));
    t.same(r.statuses, [status], `${path}: ${status}`);
    t.same(denyReasons(r.text), [reason], `${path}: ${reason}`);
  }
  const raw = await h.raw(
    Buffer.concat([
      Buffer.from('GET http://api.acme.test/v1/repos/'),
      Buffer.from([0xc0, 0xae]),
      Buffer.from(' HTTP/1.1\r\nHost: api.acme.test\r\n\r\n'),
    ]),
  );
  t.equal(raw.statuses[0], 400, 'raw non-ASCII bytes in the request line: 400');
  h.nothingReached(t, { resolvedOk: true });
  const ok = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1/rep%6Fs/x'));
  t.same(ok.statuses, [200], 'an encoded unreserved character is the same URL (RFC 3986 §6.2.2.2)');
  t.equal(h.upstream.requests[0]?.url, '/v1/repos/x', 'sent in the canonical spelling that matched');
});
