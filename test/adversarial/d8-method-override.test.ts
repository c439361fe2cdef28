import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// D8: headers and query parameters that ask a server to treat a POST as another method are refused,
// so a POST grant cannot become a DELETE on servers that honour them.

t.test('method override', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([apiGrant({ id: 'post', method: 'POST', path: '/v1/items', uses: 'unlimited' })]),
  );
  for (const header of [
    'X-HTTP-Method-Override: DELETE',
    'X-HTTP-Method: DELETE',
    'X-Method-Override: PUT',
  ]) {
    const r = await tunnelExchange(
      h,
      'api.acme.test:443',
      httpRequest('POST', '/v1/items', { headers: [header], body: 'x' }),
    );
    t.same(r.statuses, [403], `${header}: 403`);
    t.same(denyReasons(r.text), ['header_not_allowed']);
  }
  const q = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('POST', '/v1/items?_method=DELETE', { body: 'x' }),
  );
  t.same(denyReasons(q.text), ['query_not_allowed'], '_method in the query: query_not_allowed');
  h.nothingReached(t, { resolvedOk: true });
  // A form field _method is body data Errand does not interpret; the grant is POST and POST is sent.
  const form = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('POST', '/v1/items', {
      headers: ['Content-Type: application/x-www-form-urlencoded'],
      body: '_method=DELETE',
    }),
  );
  t.same(form.statuses, [200]);
  t.equal(h.upstream.requests[0]?.method, 'POST');
});
