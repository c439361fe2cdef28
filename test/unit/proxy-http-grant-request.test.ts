import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { indexGrants } from '../../src/authorize/authorize.ts';
import type { HttpGrant } from '../../src/manifest/types.ts';
import { authorityOf, hostOf } from '../../src/proxy/http-grant.ts';
import {
  agentResponseHeaders,
  buildUpstreamHeaders,
  classifyHttp,
  explainMiss,
} from '../../src/proxy/http-grant-request.ts';
import { loadInjectSecrets } from '../../src/proxy/inject.ts';
import type { NormalizedRequest } from '../../src/proxy/request.ts';
import { httpGrant, manifestWith } from '../helpers/manifests.ts';

// The pure half of HTTP grants: classification, near-miss explanations, the exact upstream header
// set, the relayed response headers, and loading the injected secrets.

const TOKEN = 'tok_abcdefghijklmnop';
// biome-ignore lint/suspicious/noTemplateCurlyInString: a ${secret:NAME} placeholder is manifest data
const inject = { header: 'Authorization', value: 'Bearer ${secret:tok}', secret: 'tok' };
const grants: HttpGrant[] = [
  httpGrant({ id: 'post', method: 'POST', url: 'https://api.acme.test/v1/messages?channel=C1', inject }),
  httpGrant({ id: 'items', method: 'GET', url: 'https://api.acme.test/v1/items/*', pattern: true }),
  httpGrant({ id: 'enc', method: 'GET', url: 'https://api.acme.test/v1/p/a%2Fb' }),
];
const index = indexGrants(manifestWith([], grants));

const request = (over: Partial<NormalizedRequest>): NormalizedRequest => {
  const rawQuery = over.rawQuery ?? '';
  return {
    id: 'r1',
    listener: 'connect',
    method: 'GET',
    scheme: 'https',
    host: 'api.acme.test',
    port: 443,
    rawPath: '/v1/items/1',
    rawQuery,
    query:
      rawQuery === ''
        ? []
        : rawQuery.split('&').map((p) => [p.split('=')[0]!, p.split('=')[1] ?? ''] as const),
    headers: new Map([['host', 'api.acme.test']]),
    ...over,
  };
};

t.test('classifyHttp', async (t) => {
  t.match(classifyHttp(request({ rawPath: '/v1/it%65ms/1' }), index), {
    ok: true,
    intent: { rawPath: '/v1/items/1', kind: 'http' },
  });
  const table: [Partial<NormalizedRequest>, string][] = [
    [{ headers: new Map([['x-http-method-override', 'DELETE']]) }, 'header_not_allowed'],
    [{ rawQuery: '_method=DELETE' }, 'query_not_allowed'],
    [{ rawQuery: 'a=1&a=2' }, 'query_not_allowed'],
    [{ rawPath: '/v1/items/..' }, 'not_in_manifest'],
    [{ rawPath: '/v1/items/%2E%2e' }, 'not_in_manifest'],
    [{ rawPath: '/v1/items/a%2Fb' }, 'not_in_manifest'],
    [{ rawPath: '/v1/items/a%5cb' }, 'not_in_manifest'],
  ];
  for (const [over, reason] of table) {
    t.match(
      classifyHttp(request(over), index),
      { ok: false, reason },
      JSON.stringify({ ...over, headers: undefined }),
    );
  }
  t.match(
    classifyHttp(request({ rawPath: '/v1/p/a%2fb' }), index),
    { ok: true },
    'an exact grant may spell %2F',
  );
});

t.test('explainMiss', async (t) => {
  const intent = (over: Record<string, unknown>) => ({
    kind: 'http' as const,
    method: 'POST',
    scheme: 'https' as const,
    host: 'api.acme.test',
    port: 443,
    rawPath: '/v1/messages',
    rawQuery: 'channel=C2',
    ...over,
  });
  t.match(explainMiss(intent({}), index), { reason: 'query_not_allowed', message: /grant post/ });
  t.match(explainMiss(intent({ scheme: 'http', port: 80, rawQuery: 'channel=C1' }), index), {
    reason: 'scheme_denied',
  });
  t.equal(explainMiss(intent({ rawPath: '/v1/other', rawQuery: '' }), index), undefined);
  t.match(
    explainMiss(
      { ...intent({ method: 'GET', scheme: 'http', port: 80, rawPath: '/v1/items/1', rawQuery: '' }) },
      index,
    ),
    {
      reason: 'scheme_denied',
    },
  );
});

t.test('buildUpstreamHeaders and agentResponseHeaders', async (t) => {
  const headers = new Map([
    ['host', 'api.acme.test'],
    ['authorization', 'Bearer agent'],
    ['cookie', 'a=b'],
    ['proxy-authorization', 'x'],
    ['x-forwarded-for', '1.2.3.4'],
    ['forwarded', 'for=x'],
    ['connection', 'keep-alive, x-hop'],
    ['x-hop', 'v'],
    ['te', 'trailers'],
    ['transfer-encoding', 'chunked'],
    ['expect', '100-continue'],
    ['content-type', 'application/json'],
    ['accept-encoding', 'gzip'],
    ['x-app', '1'],
  ]);
  const out = buildUpstreamHeaders(
    request({ method: 'POST', headers }),
    grants[0]!,
    `Bearer ${TOKEN}`,
    'api.acme.test',
  );
  t.same(out, {
    'accept-encoding': 'identity',
    authorization: `Bearer ${TOKEN}`,
    'content-type': 'application/json',
    host: 'api.acme.test',
    'x-app': '1',
  });
  const plain = buildUpstreamHeaders(request({ headers }), grants[1]!, undefined, 'api.acme.test');
  t.equal(plain['authorization'], undefined, 'no inject: no Authorization at all');
  t.equal(plain['accept-encoding'], 'gzip', 'no inject: the agent’s Accept-Encoding stands');

  const relayed = agentResponseHeaders(
    {
      'set-cookie': ['a=1'],
      'x-egress-deny': 'allowed',
      connection: 'close, x-up-hop',
      'x-up-hop': '1',
      'www-authenticate': `Bearer token="${TOKEN}"`,
      vary: ['accept', TOKEN],
      'content-length': '10',
    },
    [TOKEN],
  );
  t.same(relayed, {
    'www-authenticate': 'Bearer token="[redacted]"',
    vary: ['accept', '[redacted]'],
    'content-length': '10',
  });
});

t.test('grant URL helpers', async (t) => {
  t.equal(hostOf('https://API.acme.test:8443/x'), 'api.acme.test');
  t.equal(hostOf('https://[2001:db8::1]:8443/x'), '2001:db8::1');
  t.same(authorityOf('https://api.acme.test/x'), { scheme: 'https', host: 'api.acme.test', port: 443 });
  t.same(authorityOf('http://api.acme.test/x'), { scheme: 'http', host: 'api.acme.test', port: 80 });
  t.same(authorityOf('https://[2001:db8::1]:8443/x'), { scheme: 'https', host: '2001:db8::1', port: 8443 });
});

t.test('loadInjectSecrets', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-secrets-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const m = manifestWith([], grants);
  await t.rejects(loadInjectSecrets(m, undefined), { code: 'ERR_CONFIG', message: /--secrets-dir/ });
  await t.rejects(loadInjectSecrets(m, dir), {
    code: 'ERR_CONFIG',
    message: /secret tok is not a readable regular file/,
  });
  const bad: [string, string][] = [
    ['short\n', 'too short'],
    ['two\nlines-here-long\n', 'two lines'],
    ['tab-at-end-xxxxx\t', 'trailing whitespace'],
    ['ctl\x01-xxxxxxxxxxx', 'a control character'],
    ['x'.repeat(9000), 'too large'],
  ];
  for (const [content, why] of bad) {
    await writeFile(join(dir, 'tok'), content);
    await t.rejects(loadInjectSecrets(m, dir), { code: 'ERR_CONFIG' }, why);
  }
  await writeFile(join(dir, 'real'), `${TOKEN}\n`);
  await rm(join(dir, 'tok'));
  await symlink(join(dir, 'real'), join(dir, 'tok'));
  await t.rejects(loadInjectSecrets(m, dir), { code: 'ERR_CONFIG' }, 'a symlink is refused');
  await rm(join(dir, 'tok'));
  await writeFile(join(dir, 'tok'), `${TOKEN}\r\n`);
  const secrets = await loadInjectSecrets(m, dir);
  t.equal(secrets.valueFor(grants[0]!), `Bearer ${TOKEN}`);
  t.equal(secrets.valueFor(grants[1]!), undefined);
  t.same(secrets.patternsFor(grants[1]!), []);
  t.ok(secrets.patternsFor(grants[0]!).includes(TOKEN));
  t.same(secrets.all(), [TOKEN]);
  t.same(
    (await loadInjectSecrets(manifestWith([], [grants[1]!]), undefined)).all(),
    [],
    'no inject, no dir needed',
  );
  const stray = httpGrant({
    id: 'x',
    method: 'GET',
    url: 'https://a.test/',
    inject: { ...inject, secret: 'other' },
  });
  t.throws(() => secrets.valueFor(stray), { code: 'ERR_CONFIG' });
});
