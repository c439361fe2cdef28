import 'reflect-metadata';
import { connect } from 'node:net';
import { type PeerCertificate, connect as tlsConnect } from 'node:tls';
import * as x509 from '@peculiar/x509';
import t from 'tap';
import { apiGrant, denyReasons, forwardHarness, httpManifest } from '../helpers/forward.ts';

// I1: Errand mints leaf certificates only for the exact names the manifest names, after the CONNECT
// was allowed; the pod CA is short-lived and name-constrained to those names (no IP addresses), and
// its key never leaves the process.

t.test('the pod CA is not a minting oracle', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x' })]));
  const ca = h.sidecar.forward!.ca;
  t.same([...ca.names], ['api.acme.test'], 'leaves can exist for the manifest host only');

  for (const target of ['evil.test:443', '*.acme.test:443', '203.0.113.10:443', '[2001:db8::1]:443']) {
    const r = await h.raw(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    t.ok(r.statuses[0] === 403 || r.statuses[0] === 400, `${target}: refused before any handshake`);
  }
  for (let i = 0; i < 200; i++) {
    const name = `n${i}.acme.test:443`;
    const r = await h.raw(`CONNECT ${name} HTTP/1.1\r\nHost: ${name}\r\n\r\n`);
    if (denyReasons(r.text)[0] !== 'not_in_manifest') t.fail(`${name} was not refused`);
  }
  t.equal(ca.minted(), 0, 'no leaf minted for any refused name');
  t.equal(await ca.contextFor('evil.test'), undefined, 'asking directly mints nothing either');
  h.nothingReached(t);

  const cert = new x509.X509Certificate(ca.certPem);
  const nc = cert.getExtension('2.5.29.30');
  t.ok(nc?.critical, 'the CA carries critical name constraints');
  t.ok(Buffer.from(nc!.value).toString('latin1').includes('api.acme.test'), 'permitting the manifest host');
  t.ok(
    cert.notAfter.getTime() <= h.sidecar.context.loaded.expiresAtMs + 10 * 60_000,
    'valid until shortly after the task deadline',
  );
  t.notMatch(ca.certPem, /PRIVATE/, 'only the certificate is exported');

  // The leaf Errand presents for the granted host: that name only, short-lived, chained to the pod CA.
  const peer = await new Promise<PeerCertificate>((resolve, reject) => {
    const raw = connect({ host: '127.0.0.1', port: h.proxyPort });
    raw.once('error', reject);
    raw.once('connect', () =>
      raw.write('CONNECT api.acme.test:443 HTTP/1.1\r\nHost: api.acme.test:443\r\n\r\n'),
    );
    raw.once('data', () => {
      const tls = tlsConnect({ socket: raw, servername: 'api.acme.test', ca: ca.certPem }, () => {
        resolve(tls.getPeerCertificate());
        tls.destroy();
      });
      tls.once('error', reject);
    });
  });
  t.equal(peer.subjectaltname, 'DNS:api.acme.test');
  t.ok(Date.parse(peer.valid_to) - Date.now() <= 61 * 60_000, 'the leaf lives an hour at most');
  t.equal(ca.minted(), 1, 'one leaf, for the granted host');
});
