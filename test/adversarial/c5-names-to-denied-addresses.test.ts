import t from 'tap';
import {
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';
import { httpGrant } from '../helpers/manifests.ts';

// C5: a granted name whose answers include any address on the floor is refused outright (Errand
// does not pick the "good" answer of a mixed set: a name mixing public and internal answers is a
// rebinding tool); localhost names are refused without a lookup.

const NAMES: Record<string, string[]> = {
  'nip.acme.test': ['127.0.0.1'],
  'meta.acme.test': ['169.254.169.254'],
  'mixed.acme.test': ['203.0.113.5', '10.0.0.5'],
  'mixed6.acme.test': ['203.0.113.5', 'fd00:ec2::254'],
  'mapped.acme.test': ['::ffff:127.0.0.1'],
  'kube.acme.test': ['10.96.0.1'],
};

t.test('names that resolve to denied addresses', async (t) => {
  const grants = [...Object.keys(NAMES), 'localhost'].map((host, i) =>
    httpGrant({ id: `g${i}`, method: 'GET', url: `https://${host}/v1/x` }),
  );
  const h = await forwardHarness(t, httpManifest(grants));
  for (const [name, answers] of Object.entries(NAMES)) h.net.names.set(name, answers);
  for (const name of Object.keys(NAMES)) {
    const r = await tunnelExchange(h, `${name}:443`, httpRequest('GET', '/v1/x', { host: name }));
    t.same(r.statuses, [403], `${name}: 403`);
    t.same(denyReasons(r.text), ['dest_ip_denied'], `${name}: dest_ip_denied`);
    t.notMatch(r.text, /10\.0\.0\.5|127\.0\.0\.1|169\.254/, `${name}: the answer does not leak addresses`);
  }
  t.same(h.net.resolved, Object.keys(NAMES), 'each name was looked up once');
  const local = await tunnelExchange(h, 'localhost:443', httpRequest('GET', '/v1/x', { host: 'localhost' }));
  t.same(denyReasons(local.text), ['dest_ip_denied'], 'localhost: refused');
  t.notOk(h.net.resolved.includes('localhost'), 'localhost is never looked up');
  t.same(h.net.dialed, [], 'nothing was dialled');
  t.equal(h.upstream.requests.length, 0);
});
