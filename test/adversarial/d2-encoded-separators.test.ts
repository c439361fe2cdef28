import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// D2: an encoded / or \ is refused unless a grant spells that exact URL out; it never matches a `*`
// segment. Double encoding stays literal (decoded once).

t.test('encoded separators', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([
      apiGrant({ id: 'issues', path: '/v1/repos/*/issues', pattern: true, uses: 'unlimited' }),
      apiGrant({ id: 'project', path: '/v1/projects/group%2Fproject', uses: 'unlimited' }),
    ]),
  );
  for (const path of [
    '/v1/repos/org%2Frepo/issues',
    '/v1/repos/org%2F..%2Fother/issues',
    '/v1/repos/x%5C..%5Cadmin/issues',
    '/v1/repos/org%2frepo/issues',
    '/v1/repos/org%252Frepo/issues/x',
  ]) {
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', path));
    t.same(r.statuses, [403], `${path}: 403`);
    t.same(denyReasons(r.text), ['not_in_manifest'], `${path}: not_in_manifest`);
  }
  const raw = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('GET', '/v1/repos/x\\..\\admin/issues'),
  );
  t.equal(raw.statuses[0], 400, 'a raw backslash does not parse');
  h.nothingReached(t, { resolvedOk: true });

  const exact = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('GET', '/v1/projects/group%2fproject'),
  );
  t.same(exact.statuses, [200], 'a grant that spells the encoded slash out matches (hex case normalized)');
  t.equal(h.upstream.requests[0]?.url, '/v1/projects/group%2Fproject', 'and the canonical spelling is sent');
  const one = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1/repos/org/issues'));
  t.same(one.statuses, [200], 'a plain segment matches the *');
});
