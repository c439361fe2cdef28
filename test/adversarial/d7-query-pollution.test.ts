import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// D7: the query must be exactly the granted one: no duplicate keys (components disagree on first
// vs last), no extra keys, case-sensitive keys, reserved characters stay encoded.

t.test('query pollution', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([
      apiGrant({ id: 'post', method: 'POST', path: '/v1/messages?channel=C123', uses: 'unlimited' }),
    ]),
  );
  for (const query of [
    'channel=C123&channel=C999',
    'channel=C999&channel=C123',
    'channel=C123%26channel%3DC999',
    'Channel=C999',
    'channel=C123;channel=C999',
    'channel=C123&x=',
    'channel=C999',
    '',
  ]) {
    const target = query === '' ? '/v1/messages' : `/v1/messages?${query}`;
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('POST', target, { body: 'x' }));
    t.same(r.statuses, [403], `?${query}: 403`);
    t.same(denyReasons(r.text), ['query_not_allowed'], `?${query}: query_not_allowed`);
  }
  h.nothingReached(t, { resolvedOk: true });
  const ok = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('POST', '/v1/messages?channel=C%31%32%33', { body: 'x' }),
  );
  t.same(ok.statuses, [200], 'encoded unreserved characters decode once to the granted query');
  t.equal(h.upstream.requests[0]?.url, '/v1/messages?channel=C123', 'and the canonical query is sent');
});
