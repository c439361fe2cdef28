import { type AddressInfo, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { readClientHelloSni } from '../../src/proxy/transparent.ts';

// Reading the server name from real ClientHellos (captured from Node's TLS client), and from every
// truncation and corruption of them: never a throw, never a name that was not sent.

async function captureHello(servername: string | undefined): Promise<Buffer> {
  return new Promise((resolve) => {
    const server = createServer((s) => {
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
        server.close();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const c = tlsConnect({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        ...(servername ? { servername } : {}),
      });
      c.on('error', () => undefined);
    });
  });
}

t.test('real ClientHellos', async (t) => {
  const hello = await captureHello('API.Acme.Test');
  t.same(readClientHelloSni(hello), { kind: 'sni', host: 'api.acme.test' }, 'the name, lower-cased');
  t.same(readClientHelloSni(await captureHello(undefined)), { kind: 'no_sni' });
  for (let n = 0; n < hello.length; n += 7) {
    t.same(readClientHelloSni(hello.subarray(0, n)), { kind: 'need_more' }, `truncated to ${n} bytes`);
  }
  t.same(readClientHelloSni(Buffer.from('GET / HTTP/1.1\r\n')), { kind: 'not_tls' });
  // Structural bytes: the handshake type and the session id length.
  for (const at of [5, 43]) {
    const bad = Buffer.from(hello);
    bad[at] = 0xff;
    const r = readClientHelloSni(bad);
    t.not(r.kind, 'sni', `corrupt byte ${at}: no name read`);
  }
  const huge = Buffer.from(hello);
  huge[3] = 0x7f;
  t.same(readClientHelloSni(huge), { kind: 'malformed' }, 'a record longer than TLS allows');
  const notHello = Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0]);
  t.same(readClientHelloSni(notHello), { kind: 'malformed' }, 'a handshake that is not a ClientHello');
});

t.test('server names that are not host names', async (t) => {
  const hello = await captureHello('abcdefgh.test');
  const at = hello.indexOf(Buffer.from('abcdefgh.test'));
  for (const bad of ['abc/efgh.test', 'abc efgh.test', '-bcdefgh.test', 'abcdefgh.tes\0']) {
    const copy = Buffer.from(hello);
    copy.write(bad, at, 'latin1');
    t.same(readClientHelloSni(copy), { kind: 'malformed' }, JSON.stringify(bad));
  }
});
