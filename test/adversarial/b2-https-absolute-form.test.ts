import t from 'tap';
import { apiGrant, denyReasons, forwardHarness, httpManifest, httpRequest } from '../helpers/forward.ts';

// B2: `https://` absolute-form sent in clear to the proxy listener is refused: never dialled on port
// 80, never a credential on a cleartext hop, never re-interpreted.

t.test('https:// absolute-form on the plain listener is refused', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x' })]));
  for (const target of [
    'https://api.acme.test/v1/x',
    'HTTPS://api.acme.test/v1/x',
    'HTTP://api.acme.test/v1/x',
    'ftp://api.acme.test/v1/x',
  ]) {
    const r = await h.raw(httpRequest('GET', target));
    t.same(r.statuses, [400], `${target}: 400`);
    t.same(denyReasons(r.text), ['malformed_request'], `${target}: malformed_request`);
  }
  const r = await h.raw(httpRequest('GET', 'https://api.acme.test/v1/x'));
  t.match(r.text, /CONNECT/, 'the answer says to use CONNECT');
  h.nothingReached(t);
  t.same(await h.reasons(), Array(5).fill('malformed_request'));
});
