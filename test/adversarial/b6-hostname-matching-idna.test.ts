import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// B6: hosts match exactly after lower-casing and one trailing dot; no suffix, prefix, homograph or
// punycode look-alike matches, and none of them is looked up.

t.test('only the exact normalized host matches', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x', uses: 'unlimited' })]));
  const refused = [
    'acme.test:443',
    'a.api.acme.test:443',
    'xapi.acme.test:443',
    'api.acme.test.evil.net:443',
    'api.acme.testx:443',
    'xn--pi-8cd.acme.test:443',
  ];
  for (const target of refused) {
    const r = await h.raw(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    t.same(r.statuses, [403], `${target}: 403`);
    t.same(denyReasons(r.text), ['not_in_manifest'], `${target}: not_in_manifest`);
  }
  // Raw non-ASCII (Cyrillic а, fullwidth, circled digits) never parses; an escaped dot is not a host.
  for (const target of [
    'аpi.acme.test:443',
    'ａｐｉ.acme.test:443',
    'api.acme.test%2e:443',
    '①②⑦.0.0.1:443',
  ]) {
    const r = await h.raw(Buffer.from(`CONNECT ${target} HTTP/1.1\r\nHost: x\r\n\r\n`, 'utf8'));
    t.equal(r.statuses[0], 400, `${target}: 400`);
  }
  h.nothingReached(t);
  for (const target of ['API.ACME.TEST:443', 'api.acme.test.:443']) {
    const r = await tunnelExchange(h, target, httpRequest('GET', '/v1/x'), { servername: 'api.acme.test' });
    t.equal(r.connectStatus, 200, `${target} is the granted host after normalization`);
    t.same(r.statuses, [200]);
  }
});
