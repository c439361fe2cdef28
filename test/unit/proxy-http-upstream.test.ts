// The HTTP-grant upstream's TLS client: one context for all connections, and a session offered
// again only to the same name at the same checked address (RFC 8446 §2.2). A reconnect to the
// same destination resumes; another name on the same address, or an unverified server, never
// gets the session; the chain is verified as before (I2).
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import { createPinnedUpstream, type PinnedDestination } from '../../src/proxy/http-upstream.ts';
import { createTestCa, createTestNetwork } from '../helpers/forward.ts';

const ca = await createTestCa();
const other = await createTestCa();

/** An https server for `names` that closes every connection after one answer, recording whether
 *  each handshake resumed a session. */
async function server(names: string[], issuer = ca) {
  const { key, cert } = await issuer.issue(names);
  const handshakes: boolean[] = [];
  const s = createHttpsServer({ key, cert }, (_req, res) => {
    res.writeHead(200, { connection: 'close', 'content-length': '2' });
    res.end('ok');
  });
  s.on('secureConnection', (socket: TLSSocket) => handshakes.push(socket.isSessionReused()));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => s.close(r)));
  return { port: (s.address() as AddressInfo).port, handshakes };
}

const get = async (up: ReturnType<typeof createPinnedUpstream>, dest: PinnedDestination) => {
  const res = await up.request(dest, {
    method: 'GET',
    path: '/',
    headers: { host: dest.host },
    body: undefined,
  });
  await res.body.text();
  return res.statusCode;
};

t.test('a reconnect to the same destination resumes; another name does not get the session', async (t) => {
  const srv = await server(['api.acme.test', 'other.acme.test']);
  const net = createTestNetwork();
  net.routes.set(`203.0.113.10:443`, srv.port);
  const up = createPinnedUpstream({ dialer: net.dialer, ca: ca.certPem });
  t.teardown(() => up.close());
  const dest = { scheme: 'https' as const, host: 'api.acme.test', port: 443, address: '203.0.113.10' };
  const cases: [PinnedDestination, boolean, string][] = [
    [dest, false, 'first connection: a full handshake'],
    [dest, true, 'same name, same address: resumed'],
    [{ ...dest, host: 'other.acme.test' }, false, 'another name at the same address: a full handshake'],
    [dest, true, 'the first name again: resumed'],
  ];
  for (const [d, resumed, name] of cases) {
    t.equal(await get(up, d), 200, `${name}: answered`);
    t.equal(srv.handshakes.at(-1), resumed, name);
  }
  t.equal(srv.handshakes.length, cases.length, 'one connection per request (the server closes)');
});

t.test('the chain is still verified: a server from another CA is refused', async (t) => {
  const srv = await server(['api.acme.test'], other);
  const net = createTestNetwork();
  net.routes.set(`203.0.113.10:443`, srv.port);
  const up = createPinnedUpstream({ dialer: net.dialer, ca: ca.certPem });
  t.teardown(() => up.close());
  const dest = { scheme: 'https' as const, host: 'api.acme.test', port: 443, address: '203.0.113.10' };
  await t.rejects(get(up, dest), { code: 'CERT_SIGNATURE_FAILURE' });
  await t.rejects(get(up, dest), { code: 'CERT_SIGNATURE_FAILURE' }, 'and again: no session to skip it');
  t.notOk(srv.handshakes.some(Boolean), 'an unverified server never gets a session back');
});
