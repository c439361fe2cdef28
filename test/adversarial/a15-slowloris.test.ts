import { connect, type Socket } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { LIMITS } from '../../src/proxy/limits.ts';
import { AGENT_AUTH, harness, REPORT_KEY } from '../helpers/adversarial.ts';

// A15: a client that sends its headers one byte at a time is cut off by the header timeout, while
// other requests are served meanwhile; idle connections beyond the cap are refused.
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
