import type { IncomingMessage } from 'node:http';
import t from 'tap';
import {
  formatAuthority,
  normalizeProxyRequest,
  normalizeTunnelRequest,
} from '../../src/proxy/forward-front.ts';

// The forward front as a table over parsed requests (what Node hands the handler).

const req = (method: string, url: string, headers: string[] = [], httpVersion = '1.1') =>
  ({ method, url, rawHeaders: headers, httpVersion }) as unknown as IncomingMessage;
const host = (h: string) => ['Host', h];
const TUNNEL = { scheme: 'https' as const, host: 'api.acme.test', port: 443 };

t.test('absolute-form on the proxy listener', async (t) => {
  const ok = normalizeProxyRequest(
    req('GET', 'http://api.acme.test:8080/v1/x?a=1', host('api.acme.test:8080')),
    'r1',
  );
  t.match(ok, {
    ok: true,
    request: {
      scheme: 'http',
      host: 'api.acme.test',
      port: 8080,
      rawPath: '/v1/x',
      rawQuery: 'a=1',
      listener: 'forward',
    },
  });
  const empty = normalizeProxyRequest(req('GET', 'http://api.acme.test', host('api.acme.test')), 'r2');
  t.match(empty, { ok: true, request: { rawPath: '/', port: 80 } }, 'an empty path is /');
  const qOnly = normalizeProxyRequest(req('GET', 'http://api.acme.test?x=1', host('api.acme.test')), 'r3');
  t.match(qOnly, { ok: true, request: { rawPath: '/', rawQuery: 'x=1' } });
  const noHost = normalizeProxyRequest(req('GET', 'http://api.acme.test/'), 'r4');
  t.match(noHost, { ok: false, reason: 'bad_host' });
  const table: [IncomingMessage, string][] = [
    [req('GET', '/v1/x', host('api.acme.test')), 'malformed_request'],
    [req('GET', 'https://api.acme.test/', host('api.acme.test')), 'malformed_request'],
    [req('GET', 'http://u:p@api.acme.test/', host('api.acme.test')), 'bad_host'],
    [req('GET', 'http://api.acme.test:0/', host('api.acme.test')), 'bad_host'],
    [req('GET', 'http://api.acme.test/', host('evil.test')), 'bad_host'],
    [req('GET', 'http://api.acme.test/a#b', host('api.acme.test')), 'malformed_request'],
    [req('GET', 'http://api.acme.test/a\\b', host('api.acme.test')), 'malformed_request'],
    [req('GET', 'http://api.acme.test/%zz', host('api.acme.test')), 'malformed_request'],
    [req('GET', 'http://api.acme.test/%c0%ae', host('api.acme.test')), 'malformed_request'],
    [req('GET', 'http://api.acme.test/?a=%00', host('api.acme.test')), 'malformed_request'],
    [req('GET', `http://api.acme.test/${'a'.repeat(9000)}`, host('api.acme.test')), 'uri_too_long'],
    [req('GET', 'http://api.acme.test/', host('api.acme.test'), '1.0'), 'version_not_supported'],
    [req('TRACE', 'http://api.acme.test/', host('api.acme.test')), 'not_in_manifest'],
    [
      req('GET', 'http://api.acme.test/', [...host('api.acme.test'), 'X', 'a', 'x', 'b']),
      'ambiguous_framing',
    ],
    [
      req('POST', 'http://api.acme.test/', [
        ...host('api.acme.test'),
        'Content-Length',
        '1',
        'Transfer-Encoding',
        'chunked',
      ]),
      'ambiguous_framing',
    ],
    [
      req('POST', 'http://api.acme.test/', [...host('api.acme.test'), 'Transfer-Encoding', 'gzip']),
      'ambiguous_framing',
    ],
    [
      req('POST', 'http://api.acme.test/', [...host('api.acme.test'), 'Content-Length', '+1']),
      'ambiguous_framing',
    ],
    [req('POST', 'http://api.acme.test/', [...host('api.acme.test'), 'Expect', 'foo']), 'expectation_failed'],
    [req('GET', 'http://api.acme.test/', [...host('api.acme.test'), 'X', 'a\x01b']), 'malformed_request'],
    [
      req('GET', 'http://api.acme.test/', Array.from({ length: 130 }, (_, i) => [`X-${i}`, 'v']).flat()),
      'header_too_large',
    ],
  ];
  for (const [r, reason] of table) {
    t.match(
      normalizeProxyRequest(r, 'rx'),
      { ok: false, reason },
      `${r.method} ${(r.url ?? '').slice(0, 60)}: ${reason}`,
    );
  }
  const trace = normalizeProxyRequest(req('TRACE', 'http://api.acme.test/', host('api.acme.test')), 'r');
  t.match(trace, { message: /echoes the request/ });
  t.match(normalizeProxyRequest(req('PROPFIND', 'http://a.test/', host('a.test')), 'r'), {
    message: /never granted/,
  });
  t.match(normalizeProxyRequest(req('G(T', 'http://a.test/', host('a.test')), 'r'), {
    reason: 'malformed_request',
  });
});

t.test('requests inside a tunnel', async (t) => {
  t.match(normalizeTunnelRequest(req('GET', '/v1/x', host('api.acme.test')), 'r', 'connect', TUNNEL), {
    ok: true,
    request: { scheme: 'https', host: 'api.acme.test', port: 443, listener: 'connect' },
  });
  t.match(
    normalizeTunnelRequest(
      req('GET', 'https://api.acme.test:443?q', host('api.acme.test')),
      'r',
      'connect',
      TUNNEL,
    ),
    {
      ok: true,
      request: { rawPath: '/', rawQuery: 'q' },
    },
  );
  t.match(
    normalizeTunnelRequest(
      req('GET', 'https://api.acme.test', host('api.acme.test')),
      'r',
      'connect',
      TUNNEL,
    ),
    {
      ok: true,
      request: { rawPath: '/' },
    },
  );
  for (const [target, h] of [
    ['/v1/x', 'evil.test'],
    ['/v1/x', 'api.acme.test:8443'],
    ['https://evil.test/', 'api.acme.test'],
    ['http://api.acme.test/', 'api.acme.test'],
    ['*', 'api.acme.test'],
  ] as const) {
    t.match(
      normalizeTunnelRequest(req('GET', target, host(h)), 'r', 'connect', TUNNEL),
      { ok: false, reason: 'host_mismatch' },
      `${target} with Host ${h}`,
    );
  }
  t.match(normalizeTunnelRequest(req('GET', '/', host('a b')), 'r', 'connect', TUNNEL), {
    ok: false,
    reason: 'bad_host',
  });
  t.match(
    normalizeTunnelRequest(req('GET', `/${'a'.repeat(9000)}`, host('api.acme.test')), 'r', 'connect', TUNNEL),
    {
      ok: false,
      reason: 'uri_too_long',
    },
  );
  t.match(normalizeTunnelRequest(req('GET', '/', [], '1.0'), 'r', 'connect', TUNNEL), {
    reason: 'version_not_supported',
  });
});

t.test('formatAuthority', async (t) => {
  t.equal(formatAuthority({ scheme: 'https', host: 'a.test', port: 443 }), 'a.test');
  t.equal(formatAuthority({ scheme: 'https', host: 'a.test', port: 80 }), 'a.test:80');
  t.equal(formatAuthority({ scheme: 'http', host: '2001:db8::1', port: 80 }), '[2001:db8::1]');
});
