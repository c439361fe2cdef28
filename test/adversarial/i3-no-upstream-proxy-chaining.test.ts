import type { AddressInfo } from 'node:net';
import { createServer, type Socket } from 'node:net';
import t from 'tap';
import {
  forwardHarness,
  httpManifest,
  httpRequest,
  injectGrant,
  SECRET,
  tunnelExchange,
} from '../helpers/forward.ts';

// I3: Errand never chains through another proxy. A proxy named in Errand's own environment (one that
// would answer CONNECT with 407, or 200 and garbage) is not used: the request goes to the checked
// address over verified TLS, and the other proxy sees no byte, so no request can leak in clear.

t.test('proxy variables in Errand’s environment are not followed', async (t) => {
  const seen: string[] = [];
  const sockets: Socket[] = [];
  const corporate = createServer((s) => {
    sockets.push(s);
    s.on('data', (d) => {
      seen.push(d.toString('latin1'));
      s.write('HTTP/1.1 200 Connection Established\r\n\r\ngarbage-not-tls');
    });
  });
  await new Promise<void>((r) => corporate.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(corporate.address() as AddressInfo).port}`;
  const saved = { ...process.env };
  for (const k of ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy', 'ALL_PROXY'])
    process.env[k] = url;
  t.teardown(() => {
    for (const k of ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy', 'ALL_PROXY']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    for (const s of sockets) s.destroy();
    corporate.close();
  });

  const h = await forwardHarness(t, httpManifest([injectGrant('post', '/v1/x')]));
  const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('POST', '/v1/x', { body: 'x' }));
  t.same(r.statuses, [200], 'the API is reached directly');
  t.equal(h.upstream.requests[0]?.headers.authorization, `Bearer ${SECRET}`, 'over verified TLS');
  t.same(seen, [], 'the other proxy received nothing');
});
