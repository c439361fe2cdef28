import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  injectGrant,
  SECRET,
  startTlsUpstream,
} from '../helpers/forward.ts';
import { rawExchange } from '../helpers/raw-http.ts';
import { describeRun, runCurl } from '../helpers/real-clients.ts';

// The transparent listener, as iptables REDIRECT would use it: the client connects to what it
// believes is the API (here: straight to the listener) and never sends CONNECT. TLS is routed by SNI,
// plain HTTP by Host, with the rules of the forward proxy; names are resolved by Errand itself.

/** TLS to the transparent listener with `servername`, then exact bytes; collects the answer. */
function tlsExchange(port: number, servername: string | undefined, ca: string, payload: string) {
  return new Promise<{ text: string; failed: boolean }>((resolve) => {
    const chunks: Buffer[] = [];
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ...(servername ? { servername } : {}),
      ca,
      checkServerIdentity: () => undefined,
    });
    const done = (failed: boolean) => resolve({ text: Buffer.concat(chunks).toString('latin1'), failed });
    s.once('secureConnect', () => s.write(payload));
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      setTimeout(() => s.destroy(), 300);
    });
    s.once('error', () => done(true));
    s.once('close', () => done(chunks.length === 0));
  });
}

t.test('TLS routed by SNI', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest(
      [injectGrant('post', '/v1/x'), apiGrant({ id: 'g', path: '/v1/g' })],
      [{ host: 'pypi.acme.test', port: 443 }],
    ),
    {
      transparent: true,
    },
  );
  const port = h.sidecar.forward!.transparentPort!;
  const ok = await tlsExchange(
    port,
    'api.acme.test',
    h.sidecar.caPem!,
    httpRequest('POST', '/v1/x', { body: 'x' }),
  );
  t.match(ok.text, /^HTTP\/1\.1 200/, 'a granted request through a redirected TLS connection');
  t.equal(h.upstream.requests[0]?.headers.authorization, `Bearer ${SECRET}`);

  const wrongHost = await tlsExchange(
    port,
    'api.acme.test',
    h.sidecar.caPem!,
    httpRequest('GET', '/v1/g', { host: 'evil.test' }),
  );
  t.match(wrongHost.text, /^HTTP\/1\.1 421/, 'Host must equal the SNI name');

  const evil = await tlsExchange(port, 'evil.test', h.sidecar.caPem!, httpRequest('GET', '/'));
  t.ok(evil.failed, 'a name the manifest does not name: the connection is closed');
  const none = await tlsExchange(port, undefined, h.sidecar.caPem!, httpRequest('GET', '/'));
  t.ok(none.failed, 'no SNI: closed');
  t.notOk(h.net.resolved.includes('evil.test'), 'the refused name was never resolved');

  const curl = await runCurl([
    '--cacert',
    h.caFile,
    '--connect-to',
    `api.acme.test:443:127.0.0.1:${port}`,
    `https://api.acme.test/v1/g`,
  ]);
  t.equal(curl.code, 0, describeRun('curl redirected to the transparent listener', curl));

  const pypi = await startTlsUpstream(h.testCa, ['pypi.acme.test']);
  t.teardown(() => pypi.close());
  h.net.names.set('pypi.acme.test', ['203.0.113.20']);
  h.net.routes.set('203.0.113.20:443', pypi.port);
  const blind = await tlsExchange(
    port,
    'pypi.acme.test',
    h.testCa.certPem,
    httpRequest('GET', '/simple/', { host: 'pypi.acme.test' }),
  );
  t.match(
    blind.text,
    /^HTTP\/1\.1 200/,
    'a passthrough host: a blind tunnel with the upstream’s own certificate',
  );
  t.equal(pypi.requests.length, 1);

  const reasons = await h.reasons();
  t.ok(reasons.includes('not_in_manifest') && reasons.includes('sni_mismatch'));
});

t.test('plain HTTP routed by Host', async (t) => {
  const grant = {
    ...apiGrant({ id: 'plain', path: '/v1/p', uses: 'unlimited' as const, unsafeAllowPlainHttp: true }),
    url: 'http://api.acme.test/v1/p',
  };
  const h = await forwardHarness(t, httpManifest([grant, apiGrant({ id: 'tls', path: '/v1/x' })]), {
    transparent: true,
  });
  const port = h.sidecar.forward!.transparentPort!;
  const ok = await rawExchange(port, httpRequest('GET', '/v1/p'), { idleMs: 300 });
  t.same(ok.statuses, [200], 'a granted plain-http request');
  t.equal(h.plain.requests.length, 1);
  const denied = await rawExchange(
    port,
    [httpRequest('GET', '/v1/p', { host: 'evil.test' }), httpRequest('GET', '/v1/x')],
    { idleMs: 300 },
  );
  t.same(denied.statuses, [403, 403], 'each request is decided on its own Host');
  t.same(denyReasons(denied.text), ['not_in_manifest', 'scheme_denied']);
  const noHost = await rawExchange(port, 'GET /v1/p HTTP/1.1\r\n\r\n', { idleMs: 300 });
  t.equal(noHost.statuses[0], 400);
  t.equal(h.plain.requests.length + h.upstream.requests.length, 1);
});

t.test('slow or silent clients are closed', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x' })]), {
    transparent: true,
  });
  const port = h.sidecar.forward!.transparentPort!;
  const garbage = await new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () =>
      s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0, 0, 0, 0])),
    );
    s.once('close', () => resolve(true));
    s.once('error', () => resolve(true));
  });
  t.ok(garbage, 'a TLS record that is not a ClientHello is closed');
  h.nothingReached(t);
});
