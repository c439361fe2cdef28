import t from 'tap';
import {
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  injectGrant,
  PUBLIC_TEST_ADDRESS,
  SECRET,
  tunnelExchange,
} from '../helpers/forward.ts';
import { httpGrant } from '../helpers/manifests.ts';

// K1: every error Errand answers carries a reason code and a request id, and nothing else an agent
// could learn from: no addresses, resolver output, stack traces, file paths, credentials or
// manifest content.

const LEAKS = [
  PUBLIC_TEST_ADDRESS,
  '127.0.0.1',
  'ENOTFOUND',
  'ECONNREFUSED',
  'no route',
  ' at ',
  'Error:',
  '/work',
  'node:',
  '.ts',
  SECRET,
  'acme-token',
  'tsk_proxy',
];

t.test('error bodies say the reason and the request id only', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([
      { ...injectGrant('post', '/v1/x'), uses: 'unlimited' },
      httpGrant({ id: 'nxdomain', method: 'GET', url: 'https://gone.acme.test/v1/x' }),
      httpGrant({ id: 'refused', method: 'GET', url: 'https://down.acme.test/v1/x' }),
    ]),
  );
  h.net.names.set('down.acme.test', ['203.0.113.99']);
  const answers: [string, string, string][] = [];
  const dns = await tunnelExchange(
    h,
    'gone.acme.test:443',
    httpRequest('GET', '/v1/x', { host: 'gone.acme.test' }),
  );
  answers.push(['DNS failure', 'dns_denied', dns.text]);
  const refused = await tunnelExchange(
    h,
    'down.acme.test:443',
    httpRequest('GET', '/v1/x', { host: 'down.acme.test' }),
  );
  answers.push(['refused connect', 'upstream_error', refused.text]);
  h.upstream.answer(() => ({ status: 200, body: 'x' }));
  const parse = await tunnelExchange(
    h,
    'api.acme.test:443',
    'GET /v1/x HTTP/1.1\r\nHost: api.acme.test\r\nX: a\r\n b\r\n\r\n',
  );
  answers.push(['parser error', 'malformed_request', parse.text]);
  const connect = await h.raw('CONNECT nowhere.test:443 HTTP/1.1\r\nHost: nowhere.test:443\r\n\r\n');
  answers.push(['denied CONNECT', 'not_in_manifest', connect.text]);
  const framing = await h.raw(
    'POST http://api.acme.test/v1/x HTTP/1.1\r\nHost: api.acme.test\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  );
  answers.push(['ambiguous framing', '', framing.text]);

  for (const [name, reason, text] of answers) {
    t.match(text, /request id: r-[0-9a-f]+-[0-9a-z]+/, `${name}: carries the request id`);
    if (reason) t.same(denyReasons(text), [reason], `${name}: ${reason}`);
    for (const leak of LEAKS)
      t.notOk(text.includes(leak), `${name}: does not mention ${JSON.stringify(leak)}`);
  }
});

t.test('after the deadline: manifest_expired, nothing else', async (t) => {
  const m = httpManifest([injectGrant('post', '/v1/x')]);
  const h = await forwardHarness(t, m, { now: () => Date.parse(m.task.expiresAt) + 1 });
  const c = await h.raw('CONNECT api.acme.test:443 HTTP/1.1\r\nHost: api.acme.test:443\r\n\r\n');
  t.same(denyReasons(c.text), ['manifest_expired']);
  for (const leak of LEAKS) t.notOk(c.text.includes(leak), `does not mention ${JSON.stringify(leak)}`);
  h.nothingReached(t);
});
