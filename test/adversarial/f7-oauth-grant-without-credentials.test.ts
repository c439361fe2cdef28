// An HTTP grant whose credential is an OAuth token (inject.oauth) must never be sent without it.
// The sidecar wires OAuth credentials whenever a manifest has such a grant; a handler that was built
// without them (a wiring mistake, another entry point) refuses the request with
// credentials_unavailable and an audit record, and nothing is resolved, dialled or sent. The same
// holds for a WebSocket handshake on such a grant, which never carries an OAuth token.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import t from 'tap';
import { indexGrants } from '../../src/authorize/authorize.ts';
import type { HttpGrant, Manifest, OAuthInject } from '../../src/manifest/types.ts';
import type { SidecarContext } from '../../src/proxy/context.ts';
import { createDestinationFloor } from '../../src/proxy/destinations.ts';
import { normalizeTunnelRequest } from '../../src/proxy/forward-front.ts';
import { createHttpGrantHandler } from '../../src/proxy/http-grant.ts';
import { createPinnedUpstream } from '../../src/proxy/http-upstream.ts';
import { createWebSocketHandler } from '../../src/proxy/websocket.ts';
import {
  API_HOST,
  apiGrant,
  denyReasons,
  type ForwardHarness,
  forwardHarness,
  httpManifest,
  httpRequest,
} from '../helpers/forward.ts';
import { rawExchange } from '../helpers/raw-http.ts';

const OAUTH: OAuthInject = {
  tokenEndpoint: 'https://auth.acme.test/token',
  clientId: 'errand',
  clientKey: 'errand-key',
  subjectToken: 'alice-token',
  subjectTokenType: 'jwt',
  actorTokenType: 'jwt',
  resource: `https://${API_HOST}`,
  dpop: true,
};

const plainGrants: HttpGrant[] = [
  apiGrant({ id: 'post-oauth', path: '/v1/oauth', method: 'POST' }),
  apiGrant({ id: 'post-plain', path: '/v1/plain', method: 'POST' }),
  { ...apiGrant({ id: 'ws-oauth', path: '/v1/stream' }), websocket: true },
];
/** The same grants, two of them with inject.oauth: what the handlers under test are given. */
const oauthGrants: HttpGrant[] = plainGrants.map((g) =>
  g.id.endsWith('-oauth') ? { ...g, oauth: OAUTH } : g,
);

/** The sidecar's context with the OAuth manifest, and handlers built without OAuth credentials,
 *  served on a loopback port as if inside a tunnel to api.acme.test:443. */
async function harness(h: ForwardHarness): Promise<{ port: number; server: Server }> {
  const manifest: Manifest = { ...h.sidecar.context.loaded.manifest, ...httpManifest(oauthGrants) };
  const ctx: SidecarContext = {
    ...h.sidecar.context,
    loaded: Object.freeze({ ...h.sidecar.context.loaded, manifest }),
    index: indexGrants(manifest),
  };
  const secrets = { valueFor: () => undefined, patternsFor: () => [], all: () => [] };
  const floor = createDestinationFloor();
  const upstream = createPinnedUpstream({ dialer: h.net.dialer, ca: h.testCa.certPem });
  const httpGrant = createHttpGrantHandler({ ctx, secrets, resolver: h.net.resolver, floor, upstream });
  const webSocket = createWebSocketHandler({
    ctx,
    secrets,
    resolver: h.net.resolver,
    dialer: h.net.dialer,
    floor,
    upstreamCa: h.testCa.certPem,
    track: () => undefined,
  });
  const authority = { scheme: 'https' as const, host: API_HOST, port: 443 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const front = normalizeTunnelRequest(req, ctx.newRequestId(), 'connect', authority);
    if (front.ok) void httpGrant(req, res, front.request);
    else res.writeHead(400).end();
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const front = normalizeTunnelRequest(req, ctx.newRequestId(), 'connect', authority);
    if (front.ok) void webSocket(req, socket, head, front.request);
    else socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await upstream.close();
  });
  return { port: (server.address() as AddressInfo).port, server };
}

const body = '{"text":"summary"}';
const wsHandshake = httpRequest('GET', '/v1/stream', {
  headers: [
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  ],
});

t.test('an OAuth grant reached without OAuth credentials is refused, never sent bare', async (t) => {
  const cases = [
    {
      name: 'POST on the OAuth grant',
      payload: httpRequest('POST', '/v1/oauth', { headers: ['Content-Type: application/json'], body }),
      status: 503,
      reason: 'credentials_unavailable',
      grant: 'post-oauth',
      message: /holds no OAuth credentials for this grant/,
    },
    {
      name: 'WebSocket handshake on the OAuth grant',
      payload: wsHandshake,
      status: 503,
      reason: 'credentials_unavailable',
      grant: 'ws-oauth',
      message: /does not send OAuth credentials on a WebSocket handshake/,
    },
  ];
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const h = await forwardHarness(t, httpManifest(plainGrants));
      const { port } = await harness(h);
      const r = await rawExchange(port, c.payload, { idleMs: 400, expect: 1 });
      t.same(r.statuses, [c.status], 'answered 503');
      t.same(denyReasons(r.text), [c.reason], 'the deny names the reason');
      t.match(r.text, c.message, 'the agent is told why');
      h.nothingReached(t);
      const records = (await h.auditRecords()).filter((x) => x['grant_ids'] !== undefined);
      t.match(
        records.filter((x) => x['event'] === 'egress_decision'),
        [{ decision: 'error', reason: c.reason, grant_ids: [c.grant], message: c.message }],
        'one audit record, decision error',
      );
    });
  }
});

t.test('control: a grant without inject.oauth on the same handler is sent', async (t) => {
  const h = await forwardHarness(t, httpManifest(plainGrants));
  h.upstream.answer(() => ({ status: 200, body: 'ok' }));
  const { port } = await harness(h);
  const r = await rawExchange(port, httpRequest('POST', '/v1/plain', { body }), { idleMs: 400, expect: 1 });
  t.same(r.statuses, [200]);
  t.equal(h.upstream.requests.length, 1, 'the upstream saw the request');
  t.equal(h.upstream.requests[0]?.headers['authorization'], undefined, 'no credential: none granted');
});
