import t from 'tap';
import {
  forwardHarness,
  httpManifest,
  httpRequest,
  injectGrant,
  SECRET,
  tunnelExchange,
} from '../helpers/forward.ts';

// K3 (and F3): what the API reflects back never hands the agent the injected credential or a
// session it opened: Set-Cookie is dropped, header values and bodies that echo the secret are
// scrubbed (also split across chunks, percent-encoded or base64), and an upstream cannot speak
// with Errand's voice (x-egress-deny).

t.test('response headers and bodies are scrubbed', async (t) => {
  const h = await forwardHarness(t, httpManifest([{ ...injectGrant('post', '/v1/x'), uses: 'unlimited' }]));
  h.upstream.answer((r) => ({
    status: 401,
    headers: {
      'set-cookie': ['session=opened-with-the-token; Secure', 'other=1'],
      'www-authenticate': `Bearer error="invalid_token", token="${SECRET}"`,
      'authentication-info': `nextnonce="x", token=${encodeURIComponent(SECRET)}`,
      'x-egress-deny': 'allowed',
      'x-echo': Buffer.from(SECRET).toString('base64'),
      'content-type': 'application/json',
    },
    body: JSON.stringify({ headers: r.headers, again: SECRET.repeat(3) }),
  }));
  const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('POST', '/v1/x', { body: 'x' }), {
    idleMs: 800,
  });
  t.same(r.statuses, [401]);
  t.notMatch(r.text, /set-cookie/i, 'no Set-Cookie reaches the agent');
  t.notOk(r.text.includes(SECRET), 'the secret appears nowhere');
  t.notOk(r.text.includes(encodeURIComponent(SECRET)), 'nor percent-encoded');
  t.notOk(r.text.includes(Buffer.from(SECRET).toString('base64')), 'nor base64');
  t.notMatch(r.text, /x-egress-deny/i, 'the upstream cannot spoof Errand’s deny header');
  t.match(r.text, /\[redacted\]/);
  const result = (await h.auditRecords()).find((x) => x['event'] === 'egress_result');
  t.ok(
    ((result?.['upstream'] as Record<string, number> | undefined)?.['scrubbed'] ?? 0) >= 4,
    'the audit counts the scrubbed echoes',
  );

  // A large echo streamed in small chunks: the scrubber carries a bounded tail across chunks.
  const big = `${'a'.repeat(100_003)}${SECRET}${'b'.repeat(70_001)}${SECRET}`;
  h.upstream.answer(() => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: big }));
  const s = await tunnelExchange(h, 'api.acme.test:443', httpRequest('POST', '/v1/x', { body: 'x' }), {
    idleMs: 800,
  });
  t.same(s.statuses, [200]);
  t.notOk(s.text.includes(SECRET), 'a streamed echo is scrubbed');
  t.equal((s.text.match(/\[redacted\]/g) ?? []).length, 2);

  // A compressed answer cannot be checked: refused rather than relayed blind.
  h.upstream.answer(() => ({
    status: 200,
    headers: { 'content-encoding': 'gzip' },
    body: 'not really gzip',
  }));
  const z = await tunnelExchange(h, 'api.acme.test:443', httpRequest('POST', '/v1/x', { body: 'x' }));
  t.same(z.statuses, [502]);
  t.equal(h.upstream.requests.at(-1)?.headers['accept-encoding'], 'identity', 'Errand asks for identity');
});
