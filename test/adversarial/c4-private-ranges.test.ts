import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';
import { httpGrant } from '../helpers/manifests.ts';

// C4: private, loopback, CGNAT, unspecified, benchmarking, multicast and broadcast destinations are
// refused whatever the manifest says; only the loudly named grant switch unsafeAllowPrivateAddress
// opens private, loopback and CGNAT ranges, for that grant's host only.

t.test('special-purpose ranges, by literal and by name', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([
      apiGrant({ id: 'x', path: '/v1/x' }),
      httpGrant({ id: 'internal', method: 'GET', url: 'https://internal.acme.test/v1/x' }),
      httpGrant({
        id: 'local-opt-in',
        method: 'GET',
        url: 'https://local.acme.test/v1/x',
        unsafeAllowPrivateAddress: true,
      }),
    ]),
    { upstreamNames: ['api.acme.test', 'local.acme.test'] },
  );
  for (const host of [
    '10.0.0.1',
    '172.16.0.1',
    '192.168.1.1',
    '100.64.0.1',
    '0.0.0.0',
    '127.0.0.2',
    '198.18.0.1',
    '224.0.0.1',
    '255.255.255.255',
    '[::1]',
    '[fd12::1]',
    '[::ffff:10.0.0.1]',
  ]) {
    const r = await h.raw(httpRequest('GET', `http://${host}/`, { host }));
    t.same(denyReasons(r.text), ['dest_ip_denied'], `${host}: dest_ip_denied`);
  }
  for (const target of ['10.96.0.1:443', '10.0.0.7:10250']) {
    const r = await h.raw(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    t.same(denyReasons(r.text), ['dest_ip_denied'], `CONNECT ${target}: dest_ip_denied`);
  }
  h.nothingReached(t);

  h.net.names.set('internal.acme.test', ['10.0.0.5']);
  const internal = await tunnelExchange(
    h,
    'internal.acme.test:443',
    httpRequest('GET', '/v1/x', { host: 'internal.acme.test' }),
  );
  t.same(
    denyReasons(internal.text),
    ['dest_ip_denied'],
    'a granted name resolving to a private address is refused',
  );
  t.same(h.net.dialed, [], 'and not dialled');

  h.net.names.set('local.acme.test', ['127.0.0.1']);
  h.net.routes.set('127.0.0.1:443', h.upstream.port);
  const local = await tunnelExchange(
    h,
    'local.acme.test:443',
    httpRequest('GET', '/v1/x', { host: 'local.acme.test' }),
  );
  t.same(local.statuses, [200], 'unsafeAllowPrivateAddress opens loopback for its grant');
  t.same(h.net.dialed, ['127.0.0.1:443']);
});
