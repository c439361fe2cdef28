import t from 'tap';
import { apiGrant, forwardHarness, httpManifest, httpRequest, tunnelExchange } from '../helpers/forward.ts';

// J5: headers that tell a server where a request came from or where to route it are stripped: Errand
// is the client, and the path sent is the path authorized.

const ROUTING = [
  'X-Forwarded-Host: evil.test',
  'X-Forwarded-For: 127.0.0.1',
  'X-Forwarded-Proto: http',
  'Forwarded: host=evil.test;for=127.0.0.1',
  'X-Original-URL: /admin',
  'X-Rewrite-URL: /admin',
  'X-Envoy-Original-Path: /admin',
  'X-Real-IP: 10.0.0.1',
  'True-Client-IP: 10.0.0.1',
  'Via: 1.1 evil',
  'X-Host: evil.test',
  'Proxy-Connection: keep-alive',
  'Connection: X-Custom-Hop',
  'X-Custom-Hop: dropped because Connection names it',
];

t.test('routing headers are stripped', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x', uses: 'unlimited' })]));
  const r = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('GET', '/v1/x', { headers: [...ROUTING, 'X-Request-Tag: kept'] }),
  );
  t.same(r.statuses, [200]);
  const seen = h.upstream.requests[0]!;
  for (const line of ROUTING) {
    const name = line.split(':')[0]!.toLowerCase();
    // Errand's own client sets its Connection header; the agent's value never travels.
    if (name === 'connection')
      t.not(seen.headers[name], 'X-Custom-Hop', 'the agent’s Connection is not forwarded');
    else t.equal(seen.headers[name], undefined, `${name} is not forwarded`);
  }
  t.equal(seen.headers['x-request-tag'], 'kept', 'an ordinary application header is forwarded');
  t.equal(seen.headers.host, 'api.acme.test');
  t.equal(seen.url, '/v1/x');
  const p = await h.raw(httpRequest('GET', 'http://api.acme.test/v1/x', { headers: ROUTING }));
  t.same(p.statuses, [403], 'over plain http the https grant does not apply anyway');
});
