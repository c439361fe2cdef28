// Baseline "L4 TCP splice": every accepted connection is piped to a new connection to the upstream,
// byte for byte, both ways. No HTTP parsing: the floor any proxy in the data path costs.
//
//   node bench/servers/splice.ts --target 127.0.0.1:PORT
//
// Prints {"ready":true,"port":N} once it listens on 127.0.0.1.

import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { target: { type: 'string' } } });
const [host, port] = (values.target ?? '').split(':');
if (!host || !port) throw new Error('--target host:port is required');

const open = new Set<Socket>();
const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host, port: Number(port), noDelay: true });
  open.add(client).add(upstream);
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
    open.delete(client);
    open.delete(upstream);
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as AddressInfo).port })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  for (const s of open) s.destroy();
});
