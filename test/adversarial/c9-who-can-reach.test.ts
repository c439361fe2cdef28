import { connect } from 'node:net';
import t from 'tap';
import { apiGrant, forwardHarness, httpManifest } from '../helpers/forward.ts';

// C9: the proxy listens on loopback only (127.0.0.1 by default); another loopback address or IPv6
// loopback is refused at TCP level, so no other workload can use Errand as a credentialed proxy.

const reachable = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

t.test('loopback only', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x' })]));
  t.ok(await reachable('127.0.0.1', h.proxyPort), 'the configured loopback address answers');
  t.notOk(await reachable('127.0.0.2', h.proxyPort), 'another loopback address does not');
  t.notOk(await reachable('::1', h.proxyPort), 'IPv6 loopback does not');
  const started = (await h.auditRecords()).find((r) => r['event'] === 'sidecar_started');
  const listeners = (started?.['listeners'] ?? {}) as Record<string, string>;
  t.match(listeners['forward'], /^127\.0\.0\.1:\d+$/);
});
