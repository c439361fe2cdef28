import { createHash, randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  injectGrant,
  SECRET,
  tunnelExchange,
} from '../helpers/forward.ts';

// J2: a WebSocket upgrade is relayed only for a grant that says `websocket: true`, only after the
// API's valid 101, with the credential injected into the handshake alone; client frames must be
// masked; what the API sends back is scrubbed of the secret in place (frame lengths intact); a
// grant without the switch gets a refusal that spends no use.

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const accept = (key: string) =>
  createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
const handshake = (path: string, extra: string[] = []) =>
  httpRequest('GET', path, {
    headers: [
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      `Sec-WebSocket-Key: ${KEY}`,
      ...extra,
    ],
  });
/** A masked client text frame (RFC 6455 §5.2), payload < 126 bytes. */
const clientFrame = (text: string, masked = true) => {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const body = masked ? Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!)) : payload;
  return Buffer.concat([
    Buffer.from([0x81, (masked ? 0x80 : 0) | payload.length]),
    masked ? mask : Buffer.alloc(0),
    body,
  ]);
};
/** A server text frame, unmasked. */
const serverFrame = (text: string) => {
  const payload = Buffer.from(text);
  return Buffer.concat([Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff]), payload]);
};
/** The upstream's side: a valid 101 unless told otherwise, then it echoes each frame's payload along
 *  with the Authorization it received. */
const echoServer =
  (mode: 'ok' | 'bad-accept' | 'refuse' = 'ok') =>
  (req: { headers: Record<string, unknown> }, socket: Duplex) => {
    if (mode === 'refuse') {
      socket.end('HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const key = String(req.headers['sec-websocket-key']);
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${mode === 'ok' ? accept(key) : 'x'}\r\nSet-Cookie: s=1\r\n\r\n`,
    );
    socket.on('data', (d: Buffer) => {
      const len = d[1]! & 0x7f;
      const mask = d.subarray(2, 6);
      const text = Buffer.from(d.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!)).toString();
      socket.write(serverFrame(`echo:${text} auth:${String(req.headers['authorization'])}`));
    });
  };

t.test('a websocket grant relays after a valid 101', async (t) => {
  const wsGrant = { ...injectGrant('ws', '/v1/ws', 'GET'), websocket: true };
  const h = await forwardHarness(t, httpManifest([wsGrant, apiGrant({ id: 'plain', path: '/v1/plain' })]));
  h.upstream.onUpgrade((req, socket) => echoServer()(req, socket));
  const r = await tunnelExchange(
    h,
    'api.acme.test:443',
    [
      handshake('/v1/ws', ['Authorization: Bearer agent', 'Sec-WebSocket-Extensions: permessage-deflate']),
      clientFrame('hello'),
    ],
    { idleMs: 400 },
  );
  t.match(r.text, /^HTTP\/1\.1 101 Switching Protocols/, 'the 101 is relayed');
  t.match(r.text, new RegExp(`sec-websocket-accept: ${accept(KEY).replace(/[+/]/g, '\\$&')}`));
  t.notMatch(r.text, /set-cookie/i);
  t.match(r.text, /echo:hello auth:\*+/, 'the echoed credential is overwritten in place');
  t.notOk(r.text.includes(SECRET), 'the secret never reaches the agent');
  const seen = h.upstream.requests[0]!;
  t.equal(seen.headers.authorization, `Bearer ${SECRET}`, 'the handshake carries the injected credential');
  t.equal(seen.headers['sec-websocket-extensions'], undefined, 'no extension is negotiated');
  t.equal(seen.headers['sec-websocket-key'], KEY);

  const again = await tunnelExchange(h, 'api.acme.test:443', handshake('/v1/ws'));
  t.same(denyReasons(again.text), ['grant_exhausted'], 'one use, one connection');
});

t.test('unmasked client frames end the connection', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([{ ...apiGrant({ id: 'ws', path: '/v1/ws' }), websocket: true }]),
  );
  h.upstream.onUpgrade((req, socket) => echoServer()(req, socket));
  const r = await tunnelExchange(h, 'api.acme.test:443', [handshake('/v1/ws'), clientFrame('hello', false)], {
    idleMs: 400,
  });
  t.match(r.text, /^HTTP\/1\.1 101/);
  t.notMatch(r.text, /echo:/, 'the unmasked frame never reached the API');
});

t.test('no relay without a valid 101', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([
      { ...apiGrant({ id: 'ws', path: '/v1/ws', uses: 'unlimited' }), websocket: true },
      apiGrant({ id: 'plain', path: '/v1/plain' }),
    ]),
  );
  for (const mode of ['refuse', 'bad-accept'] as const) {
    h.upstream.onUpgrade((req, socket) => echoServer(mode)(req, socket));
    const r = await tunnelExchange(h, 'api.acme.test:443', [
      handshake('/v1/ws'),
      httpRequest('GET', '/internal'),
    ]);
    t.same(r.statuses, [502], `${mode}: 502`);
    t.same(denyReasons(r.text), ['upstream_error']);
  }
  t.equal(
    h.upstream.requests.filter((x) => x.url === '/internal').length,
    0,
    'the bytes after it were never a request',
  );

  const plain = await tunnelExchange(h, 'api.acme.test:443', handshake('/v1/plain'));
  t.same(denyReasons(plain.text), ['upgrade_denied'], 'a grant without websocket: true');
  const version = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('GET', '/v1/ws', {
      headers: [
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 8',
        `Sec-WebSocket-Key: ${KEY}`,
      ],
    }),
  );
  t.same(denyReasons(version.text), ['upgrade_denied'], 'an old protocol version');
  const ok = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1/plain'));
  t.same(ok.statuses, [200], 'the refused upgrade spent no use');
});

t.test('a secret split over the frames of one fragmented message is scrubbed', async (t) => {
  const wsGrant = { ...injectGrant('ws', '/v1/ws', 'GET'), websocket: true };
  const h = await forwardHarness(t, httpManifest([wsGrant]));
  h.upstream.onUpgrade((req, socket) => {
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
    );
    const echo = `auth:${String(req.headers['authorization'])}`;
    const cut = echo.length - 10;
    // Two fragments of one text message (RFC 6455 §5.4), the credential cut in the middle.
    socket.write(Buffer.concat([Buffer.from([0x01, cut]), Buffer.from(echo.slice(0, cut))]));
    setTimeout(
      () => socket.write(Buffer.concat([Buffer.from([0x80, 10]), Buffer.from(echo.slice(cut))])),
      50,
    );
  });
  const r = await tunnelExchange(h, 'api.acme.test:443', [handshake('/v1/ws')], { idleMs: 400 });
  t.match(r.text, /^HTTP\/1\.1 101 Switching Protocols/);
  const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
  t.notOk(body.includes(SECRET.slice(0, 12)) || body.includes(SECRET.slice(-10)), 'no part of the secret');
  t.equal(body.charCodeAt(0), 0x81, 'one unfragmented text frame (FIN, text)');
  t.match(body, /auth:Bearer \*+$|auth:\*+$/, 'the credential overwritten, the rest kept');
});
