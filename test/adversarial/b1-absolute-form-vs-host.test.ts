import t from 'tap';
import { apiGrant, denyReasons, forwardHarness, httpManifest, httpRequest } from '../helpers/forward.ts';

// B1: the authority is the absolute-form one (RFC 9112 §3.2.2); a Host header that names another is
// refused (strict mode, 400), never used to route or to pick a credential.

t.test('absolute-form and Host must name the same authority', async (t) => {
  const grant = apiGrant({ id: 'plain', path: '/v1/x', uses: 5, unsafeAllowPlainHttp: true });
  const h = await forwardHarness(t, httpManifest([{ ...grant, url: 'http://api.acme.test/v1/x' }]));
  const cases = [
    { name: 'granted URL, Host names evil.test', target: 'http://api.acme.test/v1/x', host: 'evil.test' },
    {
      name: 'evil.test URL, Host names the granted host',
      target: 'http://evil.test/v1/x',
      host: 'api.acme.test',
    },
    {
      name: 'granted URL, Host with another port',
      target: 'http://api.acme.test/v1/x',
      host: 'api.acme.test:8080',
    },
  ];
  for (const c of cases) {
    const r = await h.raw(httpRequest('GET', c.target, { host: c.host }));
    t.same(r.statuses, [400], `${c.name}: 400`);
    t.same(denyReasons(r.text), ['bad_host'], `${c.name}: bad_host`);
    t.ok(r.closed, `${c.name}: connection closed`);
  }
  h.nothingReached(t);

  const ok = await h.raw(httpRequest('GET', 'http://api.acme.test/v1/x', { host: 'API.ACME.TEST' }));
  t.same(ok.statuses, [200], 'the same request with a matching Host (case-insensitive) is forwarded');
  t.equal(h.plain.requests.length, 1);
  t.equal(h.plain.requests[0]!.headers.host, 'api.acme.test', 'Host is regenerated from the authority');
  const records = (await h.auditRecords()).filter((r) => r['event'] === 'egress_decision');
  t.ok(
    records.slice(0, 3).every((r) => r['reason'] === 'bad_host'),
    'each refusal is recorded',
  );
});
