import t from 'tap';
import {
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  injectGrant,
  SECRET,
} from '../helpers/forward.ts';
import { httpGrant } from '../helpers/manifests.ts';

// F1: a credential never travels in clear. An https grant asked over http:// through HTTP_PROXY, or
// through CONNECT to port 80, is refused with scheme_denied; an injecting grant on an http:// URL
// without unsafeAllowPlainHttp is refused even if a manifest slipped it through.

t.test('no credential in cleartext', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([
      injectGrant('post', '/v1/x'),
      { ...injectGrant('plain', '/v1/plain'), url: 'http://api.acme.test/v1/plain' },
    ]),
  );
  const viaProxy = await h.raw(httpRequest('POST', 'http://api.acme.test/v1/x', { body: 'x' }));
  t.same(viaProxy.statuses, [403]);
  t.same(denyReasons(viaProxy.text), ['scheme_denied'], 'http:// for an https grant: scheme_denied');
  const connect80 = await h.raw('CONNECT api.acme.test:80 HTTP/1.1\r\nHost: api.acme.test:80\r\n\r\n');
  t.same(denyReasons(connect80.text), ['scheme_denied'], 'CONNECT to port 80: scheme_denied');
  h.nothingReached(t);

  const plain = await h.raw(httpRequest('POST', 'http://api.acme.test/v1/plain', { body: 'x' }));
  t.same(denyReasons(plain.text), ['scheme_denied'], 'an injecting http:// grant without the unsafe switch');
  t.equal(h.plain.requests.length, 0, 'nothing was sent in clear');
  t.notMatch(JSON.stringify(await h.auditRecords()), SECRET);
});

t.test('the unsafe switch is the only way to send a credential over http', async (t) => {
  const grant = httpGrant({
    ...injectGrant('plain', '/v1/plain'),
    url: 'http://api.acme.test/v1/plain',
    unsafeAllowPlainHttp: true,
  });
  const h = await forwardHarness(t, httpManifest([grant]));
  const r = await h.raw(httpRequest('POST', 'http://api.acme.test/v1/plain', { body: 'x' }));
  t.same(r.statuses, [200]);
  t.equal(h.plain.requests[0]?.headers.authorization, `Bearer ${SECRET}`);
});
