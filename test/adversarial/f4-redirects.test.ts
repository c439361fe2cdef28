import t from 'tap';
import {
  forwardHarness,
  httpManifest,
  httpRequest,
  injectGrant,
  SECRET,
  tunnelExchange,
} from '../helpers/forward.ts';

// F4: redirects are returned to the agent, never followed with the credential; the follow-up is a
// new request that goes through full authorization.

t.test('redirects are relayed, not followed', async (t) => {
  const h = await forwardHarness(t, httpManifest([{ ...injectGrant('post', '/v1/x'), uses: 'unlimited' }]));
  for (const [status, location] of [
    [302, 'https://evil.test/collect'],
    [307, 'https://evil.test/collect'],
    [301, 'http://api.acme.test/v1/x'],
    [303, 'https://api.acme.test/v1/admin'],
  ] as const) {
    h.upstream.answer(() => ({ status, headers: { location }, body: '' }));
    const before = h.upstream.requests.length;
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('POST', '/v1/x', { body: 'x' }));
    t.same(r.statuses, [status], `${status}: relayed to the agent`);
    t.match(r.text, `location: ${location}`, `${status}: Location relayed`);
    t.equal(h.upstream.requests.length, before + 1, `${status}: exactly one upstream request`);
  }
  t.same(
    h.net.resolved.filter((n) => n !== 'api.acme.test'),
    [],
    'the redirect target was never resolved',
  );
  const follow = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1/admin'));
  t.same(follow.statuses, [403], 'following the redirect is a new request, refused');
  t.notMatch(JSON.stringify(h.upstream.requests.map((r) => r.url)), 'collect');
  t.equal(
    h.upstream.requests.every((r) => r.headers.authorization === `Bearer ${SECRET}`),
    true,
  );
});
