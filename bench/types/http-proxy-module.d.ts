// The part of the http-proxy package (a baseline in bench/servers/http-proxy.ts) the benchmark
// uses; the package ships no types.
declare module 'http-proxy' {
  import type { EventEmitter } from 'node:events';
  import type { Agent, IncomingMessage, ServerResponse } from 'node:http';
  import type { Socket } from 'node:net';

  interface ServerOptions {
    target?: string;
    agent?: Agent;
    xfwd?: boolean;
  }
  interface ProxyServer extends EventEmitter {
    web(req: IncomingMessage, res: ServerResponse): void;
    on(
      event: 'error',
      listener: (error: Error, req: IncomingMessage, res: ServerResponse | Socket) => void,
    ): this;
  }
  const httpProxy: { createProxyServer(options: ServerOptions): ProxyServer };
  export default httpProxy;
}
