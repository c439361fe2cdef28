import { connect, type Socket } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { LIMITS } from '../../src/proxy/limits.ts';
import { AGENT_AUTH, harness, REPORT_KEY } from '../helpers/adversarial.ts';
import { API_HOST, apiGrant, forwardHarness, httpManifest, tunnelExchange } from '../helpers/forward.ts';
import { rawExchange } from '../helpers/raw-http.ts';

// A15: a client that sends its headers one byte at a time is cut off by the header timeout, while
// other requests are served meanwhile (on the endpoint, inside tunnels, on the transparent listener);
// idle connections beyond the cap are refused.
t.test('a slow header section is closed within the header timeout; others are served', async (t) => {
  const h = await harness(t);
  const slow = connect(h.port, '127.0.0.1');
  let closedAt = 0;
  slow.on('close', () => {
    closedAt = Date.now();
  });
  slow.on('error', () => undefined);
  slow.resume(); // read what the server sends, so its close is seen
  const started = Date.now();
  const line = `GET /acme-uploads/${REPORT_KEY} HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nX-Slow: `;
  slow.write(line);
  const drip = setInterval(() => slow.writable && slow.write('a'), 1000);
  t.teardown(() => clearInterval(drip));
  const ok = await request(`http://127.0.0.1:${h.port}/acme-uploads/${REPORT_KEY}`, {
    headers: { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  });
  t.equal(ok.statusCode, 200, 'a normal request is served while the slow one drips');
  await ok.body.text();
  await new Promise<void>((r) => {
    const check = setInterval(() => {
      if (closedAt || Date.now() - started > LIMITS.headersTimeoutMs + 5000) {
        clearInterval(check);
        r();
      }
    }, 200);
  });
  t.ok(closedAt > 0, 'the slow connection was closed');
  t.ok(closedAt - started <= LIMITS.headersTimeoutMs + 3000, `closed after ${closedAt - started} ms`);
  t.equal(h.upstream.requests.length, 1);
});

t.test('connections beyond the cap are refused; the sidecar stays responsive', async (t) => {
  const h = await harness(t);
  const sockets: Socket[] = [];
  t.teardown(() => {
    for (const s of sockets) s.destroy();
  });
  let closedEarly = 0;
  for (let i = 0; i < LIMITS.maxConnections + 40; i++) {
    const s = connect(h.port, '127.0.0.1');
    s.on('error', () => undefined);
    s.resume();
    s.on('close', () => {
      closedEarly++;
    });
    sockets.push(s);
  }
  // On a loaded machine the connects take a while: wait (bounded) for the refusals to show.
  for (let waited = 0; closedEarly < 40 && waited < 10_000; waited += 200)
    await new Promise((r) => setTimeout(r, 200));
  t.ok(closedEarly >= 40, `the ${closedEarly} connections over the cap were closed`);
  for (const s of sockets) s.destroy();
  await new Promise((r) => setTimeout(r, 300));
  const ok = await request(`http://127.0.0.1:${h.port}/acme-uploads/${REPORT_KEY}`, {
    headers: { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  });
  t.equal(ok.statusCode, 200, 'after they are gone, requests are served');
  await ok.body.text();
});

// The same header timeout applies to requests inside an intercepted CONNECT tunnel and to plain
// HTTP on the transparent listener: their HTTP server is handed sockets instead of listening, and
// Node enforces headersTimeout only on servers that announced 'listening'.
const partialHeaders = `GET /v1/g HTTP/1.1\r\nHost: ${API_HOST}\r\nX-Slow: `;

t.test('a slow header section inside an intercepted tunnel gets 408 within the header timeout', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'g', path: '/v1/g' })]));
  const started = Date.now();
  const r = await tunnelExchange(h, `${API_HOST}:443`, partialHeaders, {
    idleMs: LIMITS.headersTimeoutMs + 5000,
  });
  t.equal(r.connectStatus, 200);
  t.same(r.statuses, [408], 'Request Timeout');
  t.match(r.text, /\r\nx-egress-deny: timeout\r\n/);
  t.ok(Date.now() - started <= LIMITS.headersTimeoutMs + 3000, `answered after ${Date.now() - started} ms`);
  t.same(await h.reasons(), ['timeout'], 'recorded');
  h.nothingReached(t, { resolvedOk: true });
});

t.test('headers dripped to the transparent listener get 408 within the header timeout', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'g', path: '/v1/g' })]), {
    transparent: true,
  });
  const started = Date.now();
  const drip = Array.from({ length: Math.ceil(LIMITS.headersTimeoutMs / 1000) + 4 }, () => 'a');
  const r = await rawExchange(h.sidecar.forward!.transparentPort!, [partialHeaders, ...drip], {
    gapMs: 1000,
    expect: 1,
    idleMs: LIMITS.headersTimeoutMs + 6000,
  });
  t.same(r.statuses, [408], 'Request Timeout, although a byte arrives every second');
  t.match(r.text, /\r\nx-egress-deny: timeout\r\n/);
  t.ok(Date.now() - started <= LIMITS.headersTimeoutMs + 3000, `answered after ${Date.now() - started} ms`);
  t.same(await h.reasons(), ['timeout'], 'recorded, as the endpoint records its own');
  h.nothingReached(t, { resolvedOk: true });
});
