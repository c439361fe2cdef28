import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { AuditLog, type AuditSync } from './audit/audit-log.ts';
import { indexGrants } from './authorize/authorize.ts';
import { UseLedger } from './authorize/use-ledger.ts';
import type { OAuthCredentials } from './credentials/oauth/oauth-credentials.ts';
import type { ClosableTokenTransport } from './credentials/oauth/token-transport.ts';
import type { LoadedManifest } from './manifest/types.ts';
import type { HostPort } from './ops/config.ts';
import { createMetrics, type Metrics } from './ops/metrics.ts';
import { type ReadinessCheck, startOpsServer } from './ops/ops-server.ts';
import { createAwsEndpointHandler } from './proxy/aws-endpoint.ts';
import { awsOriginResolver } from './proxy/aws-origin.ts';
import { proxyHostsOf } from './proxy/connect.ts';
import type { CredentialProvider, SidecarContext } from './proxy/context.ts';
import { type Dialer, type Resolver, systemDialer, systemResolver } from './proxy/dns.ts';
import type { ForwardProxy } from './proxy/forward-proxy.ts';
import { listen } from './proxy/listen.ts';
import { createUpstream } from './proxy/upstream.ts';

// Assembles one sidecar from its parts and owns their lifetimes: the audit log, the use ledger, the
// credentials, the listeners. `errand run` and the tests both start Errand through here.

export const VERSION = '0.1.0';

export interface SessionCredentials extends CredentialProvider {
  /** Mints what must exist before the sidecar is ready (task session). Never throws: see problem(). */
  start(): Promise<void>;
  /** undefined when ready, else a short, secret-free reason (for /readyz). */
  problem(): string | undefined;
  /** Drops every credential and derived key. */
  wipe(): void;
  /** The STS sessions held now, for the expiry metric. */
  sessionExpiries?(): readonly { readonly key: string; readonly expiresAt: string }[];
}

export interface SidecarOptions {
  readonly loaded: LoadedManifest;
  readonly unsigned: boolean;
  readonly credentials: SessionCredentials;
  readonly listen: HostPort;
  readonly opsListen?: HostPort;
  readonly stateDir: string;
  readonly auditFile: string | undefined;
  /** Errand's own environment (AWS_ENDPOINT_URL… for the upstream). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now?: () => number;
  readonly upstreamCa?: string;
  /** The forward proxy (HTTP_PROXY / HTTPS_PROXY); off when undefined. */
  readonly proxyListen?: HostPort;
  /** The transparent listener for redirected connections (needs proxyListen); off when undefined. */
  readonly transparentListen?: HostPort;
  /** Where the pod CA certificate (ca.pem, ca-bundle.pem) is written for the agent. */
  readonly caDir?: string;
  /** Files holding the secrets HTTP grants inject. */
  readonly secretsDir?: string;
  /** Name resolution and dialling for agent-named destinations (tests inject and count them). */
  readonly resolver?: Resolver;
  readonly dialer?: Dialer;
  readonly logger?: Logger;
  readonly echoAudit?: (line: string) => void;
  /** Audit lines for stdout, newline-terminated UTF-8: the bytes of each write(2) of the audit file
   *  (one per burst), valid during the call only. */
  readonly echoAuditBytes?: (bytes: Uint8Array) => void;
  /** When an audit record counts as written (default batch: handed to the kernel). */
  readonly auditSync?: AuditSync;
}

export interface Sidecar {
  readonly awsPort: number;
  readonly opsPort: number | undefined;
  /** The forward proxy's port, when it runs. */
  readonly proxyPort: number | undefined;
  /** The pod CA certificate (PEM), when the forward proxy runs. */
  readonly caPem: string | undefined;
  readonly forward: ForwardProxy | undefined;
  readonly metrics: Metrics;
  readonly context: SidecarContext;
  /** Stop accepting, drain in-flight requests (bounded), drop credentials, close the logs. */
  stop(): Promise<void>;
}

export async function startSidecar(opts: SidecarOptions): Promise<Sidecar> {
  const now = opts.now ?? Date.now;
  const m = opts.loaded.manifest;
  const metrics = createMetrics(VERSION, opts.credentials.sessionExpiries?.bind(opts.credentials));
  if (opts.auditFile) await mkdir(dirname(opts.auditFile), { recursive: true, mode: 0o700 });
  const audit = await AuditLog.open({
    file: opts.auditFile,
    manifestSha256: opts.loaded.sha256,
    now,
    ...(opts.echoAudit ? { echo: opts.echoAudit } : {}),
    ...(opts.echoAuditBytes ? { echoBytes: opts.echoAuditBytes } : {}),
    ...(opts.auditSync ? { sync: opts.auditSync } : {}),
  });
  const grants = [...(m.aws?.grants ?? []), ...(m.http?.grants ?? [])];
  const ledger = await UseLedger.open(opts.stateDir, opts.loaded.sha256, grants);
  const accountId = m.aws?.roleArn.split(':')[4] ?? '';
  let sequence = 0;
  const prefix = randomBytes(4).toString('hex');
  const endpointAuthorities = new Set<string>();
  const context: SidecarContext = {
    loaded: opts.loaded,
    index: indexGrants(m),
    ledger,
    audit,
    upstream: createUpstream(opts.upstreamCa ? { ca: opts.upstreamCa } : {}),
    uploads: new Map(),
    credentials: opts.credentials,
    awsOrigin: awsOriginResolver(m.aws?.region ?? 'us-east-1', opts.env),
    now,
    endpointAuthorities,
    unsignedManifest: opts.unsigned,
    newRequestId: () => `r-${prefix}-${(++sequence).toString(36)}`,
    classifyContext: {
      region: m.aws?.region ?? 'us-east-1',
      accountId,
      expectedAuthorities: endpointAuthorities,
    },
    metrics,
  };
  for (const g of grants) {
    const r = ledger.remaining(g.id);
    metrics.setUsesRemaining(g.id, r === 'unlimited' ? -1 : r);
  }

  // The ops listener first: while the STS session is being minted (with retries), /readyz already
  // answers 503 with the reason and /livez 200, so the kubelet sees progress, not a dead port.
  let serving = false;
  const checks: ReadinessCheck[] = [
    {
      name: 'manifest',
      check: () => (now() < opts.loaded.expiresAtMs ? undefined : 'the task manifest has expired'),
    },
    { name: 'credentials', check: () => opts.credentials.problem() },
    { name: 'audit', check: () => (audit.healthy ? undefined : 'the audit log cannot be written') },
    { name: 'listeners', check: () => (serving ? undefined : 'starting') },
  ];
  const ops = opts.opsListen ? await startOpsServer({ ...opts.opsListen, checks, metrics }) : undefined;
  await opts.credentials.start();
  const baseRecord = () => ({ task_id: m.task.id, manifest_sha256: opts.loaded.sha256 });
  const aws = await listen(createAwsEndpointHandler(context), {
    host: opts.listen.host,
    port: opts.listen.port,
    listener: 'aws',
    audit,
    newRequestId: context.newRequestId,
    baseRecord,
  });
  for (const host of [opts.listen.host, 'localhost', '127.0.0.1'])
    endpointAuthorities.add(`${host}:${aws.port}`);

  // The forward proxy: the pod CA (key in memory only) for exactly the hosts the manifest names,
  // the injected secrets read once, then the listener.
  let forward: ForwardProxy | undefined;
  let caPem: string | undefined;
  let oauth: OAuthCredentials | undefined;
  let tokenTransport: ClosableTokenTransport | undefined;
  if (opts.proxyListen) {
    try {
      // Loaded only with a forward proxy: the X.509 and OAuth code is a third of the start otherwise.
      const [
        { createOAuthCredentials },
        { createTokenTransport },
        { startForwardProxy },
        { loadInjectSecrets },
        { createPodCa, writeCaFiles },
      ] = await Promise.all([
        import('./credentials/oauth/oauth-credentials.ts'),
        import('./credentials/oauth/token-transport.ts'),
        import('./proxy/forward-proxy.ts'),
        import('./proxy/inject.ts'),
        import('./proxy/pod-ca.ts'),
      ]);
      const secrets = await loadInjectSecrets(m, opts.secretsDir);
      // OAuth grants: files checked and the DPoP key made now; tokens are exchanged on first use.
      if ((m.http?.grants ?? []).some((g) => g.oauth !== undefined)) {
        tokenTransport = createTokenTransport(opts.upstreamCa ? { ca: opts.upstreamCa } : {});
        oauth = createOAuthCredentials({
          loaded: opts.loaded,
          secretsDir: opts.secretsDir,
          transport: tokenTransport.post,
          now,
        });
        await oauth.start();
      }
      const hosts = proxyHostsOf(m);
      const names = [...hosts.grantAuthorities].map((a) => a.replace(/:[0-9]+$/, ''));
      const ca = await createPodCa({
        names: [...new Set([...names, ...hosts.awsHosts])].filter((n) => !/^[0-9.]+$|:/.test(n)),
        now,
        notAfterMs: opts.loaded.expiresAtMs + 10 * 60_000,
      });
      caPem = ca.certPem;
      if (opts.caDir) await writeCaFiles(opts.caDir, ca.certPem);
      forward = await startForwardProxy({
        ctx: context,
        host: opts.proxyListen.host,
        port: opts.proxyListen.port,
        ...(opts.transparentListen ? { transparent: opts.transparentListen } : {}),
        ca,
        secrets,
        ...(oauth !== undefined ? { oauth } : {}),
        resolver: opts.resolver ?? systemResolver,
        dialer: opts.dialer ?? systemDialer,
        upstreamCa: opts.upstreamCa,
      });
    } catch (error) {
      oauth?.wipe();
      await tokenTransport?.close();
      await aws.close();
      await ops?.close();
      throw error;
    }
  }
  serving = true;

  // At the deadline: refuse everything new (the handlers check the clock), drop the credentials, and
  // write a final record. The process stays up answering with clear errors until the pod ends.
  const untilDeadline = opts.loaded.expiresAtMs - now();
  const deadlineTimer = setTimeout(
    () => {
      opts.credentials.wipe();
      oauth?.wipe();
      // Synced now in every mode: the end of the task is on disk without waiting for more traffic.
      audit
        .write({ ...baseRecord(), event: 'task_expired', decision: 'deny', reason: 'manifest_expired' })
        .then(() => audit.flush())
        .catch(() => undefined);
    },
    Math.max(0, Math.min(untilDeadline, 2 ** 31 - 1)),
  );
  deadlineTimer.unref();

  await audit.write({
    ...baseRecord(),
    event: 'sidecar_started',
    user: m.task.user.subject,
    unsigned_manifest: opts.unsigned,
    listeners: {
      aws: `${opts.listen.host}:${aws.port}`,
      ...(forward ? { forward: `${opts.proxyListen!.host}:${forward.port}` } : {}),
      ...(forward?.transparentPort !== undefined
        ? { transparent: `${opts.transparentListen!.host}:${forward.transparentPort}` }
        : {}),
    },
  });
  opts.logger?.info(
    { aws: aws.port, proxy: forward?.port, ops: ops?.port, task: m.task.id },
    'errand ready to serve',
  );

  let stopped = false;
  return {
    awsPort: aws.port,
    opsPort: ops?.port,
    proxyPort: forward?.port,
    caPem,
    forward,
    metrics,
    context,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(deadlineTimer);
      const drained = Promise.all([aws.close(), forward?.close()]);
      await Promise.race([drained, new Promise((r) => setTimeout(r, 10_000).unref())]);
      aws.server.closeAllConnections();
      // What the drained requests recorded reaches the disk before the credentials go.
      await audit.flush().catch(() => undefined);
      opts.credentials.wipe();
      oauth?.wipe();
      await audit.write({ ...baseRecord(), event: 'sidecar_stopped' }).catch(() => undefined);
      await Promise.allSettled([
        ops?.close(),
        context.upstream.close(),
        tokenTransport?.close(),
        ledger.close(),
        audit.close(),
      ]);
    },
  };
}
