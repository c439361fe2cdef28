import { writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { FORWARD_LIMITS } from '../../src/proxy/forward-proxy.ts';
import { apiGrant, denyReasons, forwardHarness, httpManifest, startTlsUpstream } from '../helpers/forward.ts';
import { describeRun, runCurl } from '../helpers/real-clients.ts';

// Passthrough entries are blind tunnels: not inspected, no credential, the upstream's own certificate
// (the client verifies it, not Errand), but still resolved once by Errand and held to the floor.

const PYPI = 'pypi.acme.test';

t.test('a blind tunnel to a passthrough host', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest(
      [apiGrant({ id: 'x', path: '/v1/x' })],
      [
        { host: PYPI, port: 443 },
        { host: 'private.acme.test', port: 443 },
        { host: 'down.acme.test', port: 443 },
      ],
    ),
  );
  const pypi = await startTlsUpstream(h.testCa, [PYPI]);
  t.teardown(() => pypi.close());
  h.net.names.set(PYPI, ['203.0.113.20']);
  h.net.routes.set('203.0.113.20:443', pypi.port);
  const testCaFile = join(h.caDir, 'upstream-test-ca.pem');
  await writeFile(testCaFile, h.testCa.certPem);

  const ok = await runCurl([
    '-x',
    h.proxyUrl,
    '--cacert',
    testCaFile,
    '-H',
    'Authorization: Bearer agent',
    `https://${PYPI}/simple/`,
  ]);
  t.equal(ok.code, 0, describeRun('curl through the passthrough tunnel', ok));
  t.equal(pypi.requests.length, 1);
  t.equal(
    pypi.requests[0]!.headers.authorization,
    'Bearer agent',
    'not inspected: the bytes are the client’s own',
  );
  t.equal(h.sidecar.forward!.ca.minted(), 0, 'Errand presented no certificate of its own');
  t.same(h.net.resolved, [PYPI], 'resolved once by Errand');
  t.same(h.net.dialed, ['203.0.113.20:443'], 'the checked address was dialled');

  const podCa = await runCurl(['-x', h.proxyUrl, '--cacert', h.caFile, `https://${PYPI}/simple/`]);
  t.not(podCa.code, 0, 'the pod CA does not vouch for a passthrough host');

  h.net.names.set('private.acme.test', ['10.1.2.3']);
  const priv = await h.raw('CONNECT private.acme.test:443 HTTP/1.1\r\nHost: private.acme.test:443\r\n\r\n');
  t.same(priv.statuses, [403]);
  t.same(denyReasons(priv.text), ['dest_ip_denied'], 'passthrough obeys the floor');

  h.net.names.set('down.acme.test', ['203.0.113.30']);
  const down = await h.raw('CONNECT down.acme.test:443 HTTP/1.1\r\nHost: down.acme.test:443\r\n\r\n');
  t.same(down.statuses, [502]);
  t.same(denyReasons(down.text), ['upstream_error']);
  t.notMatch(down.text, /203\.0\.113/, 'no address in the answer');

  const records = await h.auditRecords();
  t.ok(records.some((r) => r['event'] === 'tunnel_opened' && /passthrough/.test(String(r['message']))));
  await new Promise((r) => setTimeout(r, 100));
  t.ok(
    (await h.auditRecords()).some((r) => r['event'] === 'tunnel_closed'),
    'the tunnel close is recorded',
  );
});

t.test('the tunnel cap answers 429, and open tunnels end at the deadline', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([apiGrant({ id: 'x', path: '/v1/x' })], [{ host: PYPI, port: 443 }]),
  );
  const pypi = await startTlsUpstream(h.testCa, [PYPI]);
  t.teardown(() => pypi.close());
  h.net.names.set(PYPI, ['203.0.113.20']);
  h.net.routes.set('203.0.113.20:443', pypi.port);
  const open = (target: string) =>
    new Promise<{ socket: Socket; answer: string }>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: h.proxyPort }, () => {
        socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
        socket.once('data', (d) => resolve({ socket, answer: d.toString('latin1') }));
      });
    });
  const tunnels = [await open(`${PYPI}:443`)];
  for (let i = 1; i < FORWARD_LIMITS.maxTunnels; i++) tunnels.push(await open('api.acme.test:443'));
  t.teardown(() => {
    for (const x of tunnels) x.socket.destroy();
  });
  t.ok(
    tunnels.every((x) => x.answer.startsWith('HTTP/1.1 200')),
    `${FORWARD_LIMITS.maxTunnels} tunnels open`,
  );
  t.equal(h.sidecar.forward!.tunnels(), FORWARD_LIMITS.maxTunnels);
  const over = await open('api.acme.test:443');
  tunnels.push(over);
  t.match(over.answer, /^HTTP\/1\.1 429 /, 'one more: 429');
  t.match(over.answer, /retry-after: 1/i);
  t.match(over.answer, /x-egress-deny: resource_limit/);
  h.sidecar.forward!.closeTunnels();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(h.sidecar.forward!.tunnels(), 0, 'closing tunnels (as at the deadline) ends them all');
  t.ok(tunnels[0]!.socket.destroyed || tunnels[0]!.socket.readableEnded, 'the agent sees them end');
});
