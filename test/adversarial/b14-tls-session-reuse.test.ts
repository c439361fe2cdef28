// TLS sessions offered again in intercepted tunnels. The interceptor starts every handshake in one
// shared context (made once, not per tunnel) with session tickets off: with shared ticket keys,
// one host's ticket offered in a tunnel to another crashed Errand with SIGSEGV in SSL_read (Node
// 24.9, docs/decisions/0006), a denial of service any agent could trigger.
// Pinned here: a session offered again never resumes (a full handshake with the leaf of the
// CONNECT host, B8), the crossed offer is refused as a name mismatch, the process survives, and
// each request inside is still authorized on its own (B13).
import { connect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import t from 'tap';
import type { Sidecar } from '../../src/sidecar.ts';
import { API_HOST, apiGrant, forwardHarness, httpManifest, httpRequest } from '../helpers/forward.ts';

const OTHER_HOST = 'other.acme.test';

interface Opened {
  readonly tls: TLSSocket;
  readonly reused: boolean;
  readonly session: Buffer | undefined;
  readonly servername: string;
}

/** CONNECT to `authority`, then TLS with `servername` (trusting the pod CA), offering `session`. */
function openTunnel(
  sidecar: Sidecar,
  authority: string,
  servername: string,
  session?: Buffer,
): Promise<Opened | undefined> {
  return new Promise((resolve) => {
    const raw: Socket = connect({ host: '127.0.0.1', port: sidecar.proxyPort! });
    raw.once('error', () => resolve(undefined));
    raw.once('connect', () => raw.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    let head = '';
    const onData = (c: Buffer) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      raw.removeListener('data', onData);
      if (!head.startsWith('HTTP/1.1 200')) return resolve(undefined);
      let latest: Buffer | undefined;
      const tls = tlsConnect({
        socket: raw,
        servername,
        ca: sidecar.caPem!,
        ALPNProtocols: ['http/1.1'],
        checkServerIdentity: () => undefined,
        ...(session ? { session } : {}),
      });
      tls.on('session', (s: Buffer) => {
        latest = s;
      });
      tls.once('error', () => resolve(undefined));
      tls.once('secureConnect', () => {
        // TLS 1.3 tickets arrive after the handshake: wait for one, briefly.
        setTimeout(() => resolve({ tls, reused: tls.isSessionReused(), session: latest, servername }), 100);
      });
    };
    raw.on('data', onData);
  });
}

/** One request on an open tunnel; resolves with the status line's code (0 when the tunnel closed). */
function ask(tls: TLSSocket, payload: string): Promise<number> {
  return new Promise((resolve) => {
    let text = '';
    tls.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m && text.includes('\r\n\r\n')) resolve(Number(m[1]));
    });
    tls.once('close', () => resolve(0));
    tls.write(payload);
  });
}

t.test(
  'a session offered again to the same host gets a full handshake; requests still authorized',
  async (t) => {
    const h = await forwardHarness(
      t,
      httpManifest([apiGrant({ id: 'latest', path: '/v1/latest', uses: 'unlimited' })]),
    );
    h.upstream.answer(() => ({ status: 200, body: 'ok' }));
    const first = await openTunnel(h.sidecar, `${API_HOST}:443`, API_HOST);
    t.ok(first, 'first tunnel opened');
    t.equal(first!.reused, false, 'the first handshake is a full one');
    t.ok(first!.session, 'the client kept a session to offer again');
    t.equal(await ask(first!.tls, httpRequest('GET', '/v1/latest')), 200);
    first!.tls.destroy();
    const minted = h.sidecar.forward!.ca.minted();

    const second = await openTunnel(h.sidecar, `${API_HOST}:443`, API_HOST, first!.session);
    t.ok(second, 'second tunnel opened');
    t.equal(second!.reused, false, 'the second handshake is a full one (no resumption)');
    t.equal(h.sidecar.forward!.ca.minted(), minted, 'the cached leaf served it');
    t.equal(
      await ask(second!.tls, httpRequest('GET', '/v1/other')),
      403,
      'an ungranted path is still denied',
    );
    second!.tls.destroy();
    t.equal(h.upstream.requests.length, 1, 'only the granted request reached the upstream');
  },
);

t.test('a session from one host offered in a tunnel to another never crosses hosts', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([
      apiGrant({ id: 'latest', path: '/v1/latest', uses: 'unlimited' }),
      {
        ...apiGrant({ id: 'other', path: '/v1/latest', uses: 'unlimited' }),
        url: `https://${OTHER_HOST}/v1/latest`,
      },
    ]),
  );
  const first = await openTunnel(h.sidecar, `${API_HOST}:443`, API_HOST);
  t.ok(first?.session, 'a ticket for the first host');
  first!.tls.destroy();
  // The ticket of API_HOST, in a tunnel to OTHER_HOST, with the TLS name of API_HOST: refused (B8).
  const crossed = await openTunnel(h.sidecar, `${OTHER_HOST}:443`, API_HOST, first!.session);
  const status = crossed ? await ask(crossed.tls, httpRequest('GET', '/v1/latest', { host: OTHER_HOST })) : 0;
  t.equal(status, 0, 'the tunnel is closed before any request is answered');
  t.match(await h.reasons(), ['sni_mismatch'], 'recorded as a TLS name mismatch');
  // The same session with the other host's TLS name: a full handshake, the other host's leaf.
  const other = await openTunnel(h.sidecar, `${OTHER_HOST}:443`, OTHER_HOST, first!.session);
  t.ok(other, 'a tunnel to the other host opens: the process is alive');
  t.equal(other!.reused, false, 'not resumed');
  t.match(other!.tls.getPeerCertificate().subject, { CN: OTHER_HOST }, 'the leaf names the CONNECT host');
  other!.tls.destroy();
  h.nothingReached(t, { resolvedOk: true });
});
