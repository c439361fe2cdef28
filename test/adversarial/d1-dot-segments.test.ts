import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// D1: a path with a dot segment, literal or percent-encoded in any case, is never granted: the
// upstream could resolve it to a path the manifest does not name. Nothing is normalized, so what is
// matched is what would be sent.

const ISSUES = '/v1/repos/org/repo/issues';

t.test('dot segments', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([apiGrant({ id: 'issues', path: ISSUES, uses: 'unlimited' })]),
  );
  for (const path of [
    `${ISSUES}/../../../../admin`,
    `${ISSUES}/%2e%2e/%2e%2e/admin`,
    `${ISSUES}/.%2e/admin`,
    `${ISSUES}/%2E./admin`,
    `/./v1/repos/org/repo/issues`,
    `/v1/repos/org/repo/./issues`,
    `/v1/x/..`,
  ]) {
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', path));
    t.same(r.statuses, [403], `${path}: 403`);
    t.same(denyReasons(r.text), ['not_in_manifest'], `${path}: not_in_manifest`);
    t.match(r.text, /dot segments/, `${path}: the message says why`);
  }
  h.nothingReached(t, { resolvedOk: true });
  const ok = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', ISSUES));
  t.same(ok.statuses, [200]);
  t.equal(h.upstream.requests[0]?.url, ISSUES, 'the granted path is sent byte for byte');
});
