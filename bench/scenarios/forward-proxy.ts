import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { makeCertificate } from '../lib/certificate.ts';
import { type BenchContext, LOAD_CPU, roundOrder, SUBJECT_CPU } from '../lib/context.ts';
import {
  AGENT_GET_HEADERS,
  benchManifest,
  errandEntry,
  runsAs,
  SMALL_PATH,
  signBenchManifest,
  standInEnv,
  startErrand,
} from '../lib/errand.ts';
import { clockTicksPerSecond, cpuTicks } from '../lib/proc.ts';
import { freePort } from '../lib/processes.ts';
import { compare, judge, RoundTable, type ScenarioResult } from '../lib/results.ts';
import { buildRequest, tunnelLoop } from '../lib/tunnel-loop.ts';
import { runWrk, wrkScript } from '../lib/wrk.ts';

// Scenario 2: the small GET through Errand's forward proxy. Plain http through HTTP_PROXY
// (absolute-form, an HTTP grant: wrk) against tinyproxy and direct; and HTTPS through CONNECT with
// TLS interception (the AWS pipeline inside the tunnel: SigV4, as on the endpoint) against mitmproxy
// intercepting the same way, with a closed-loop generator (wrk has no CONNECT) that costs the load
// core little: pre-built requests on tunnels opened before the clock starts (bench/lib/tunnel-loop.ts).

const CONNECTIONS = 32;
const TUNNELS = 16;
const AWS_HOST = 's3.us-east-1.amazonaws.com';

const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

export async function runForwardProxy(ctx: BenchContext): Promise<ScenarioResult> {
  const { tier, children, node } = ctx;
  const hz = clockTicksPerSecond();
  const servers = join(import.meta.dirname, '..', 'servers');
  const { key, cert } = await makeCertificate(ctx.dir, 'fp-upstream');
  const up = await children.start('upstream', LOAD_CPU, node, [join(servers, 'upstream.ts')]);
  const tlsUp = await children.start('upstream-https', LOAD_CPU, node, [
    join(servers, 'upstream.ts'),
    '--tls-key',
    key,
    '--tls-cert',
    cert,
  ]);
  const sts = await children.start('sts', LOAD_CPU, node, [join(servers, 'sts-stand-in.ts')]);
  const upUrl = `http://127.0.0.1:${up.ready['port'] as number}`;
  const tlsUrl = `https://127.0.0.1:${tlsUp.ready['port'] as number}`;
  const smallUrl = `${upUrl}${SMALL_PATH}`;
  // Absolute-form requests carry the origin's authority in Host too (RFC 9112 §3.2.2).
  const proxied = { ...AGENT_GET_HEADERS, host: `127.0.0.1:${up.ready['port'] as number}` };
  const manifest = await signBenchManifest(
    ctx.dir,
    benchManifest(new Date(Date.now() + 2 * 3600_000), [], undefined, smallUrl),
    node,
  );
  const bundle = await errandEntry(node);
  const errand = await startErrand(children, {
    ...runsAs(bundle),
    node,
    cpu: SUBJECT_CPU,
    dir: ctx.dir,
    manifest,
    awsEnv: standInEnv(`http://127.0.0.1:${sts.ready['port'] as number}`, tlsUrl),
    upstreamCaFile: cert,
    proxy: true,
    name: 'errand-proxy',
  });
  const podCa = await readFile(errand.caFile!, 'utf8');

  // tinyproxy (plain http forward proxy).
  const tinyPort = await freePort();
  const tinyConf = join(ctx.dir, 'fp-tinyproxy.conf');
  await writeFile(
    tinyConf,
    `Port ${tinyPort}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 60\nMaxClients 256\nLogLevel Error\nLogFile "${join(ctx.dir, 'fp-tinyproxy.log')}"\nDisableViaHeader Yes\n`,
  );
  const tiny = await children.start('tinyproxy', SUBJECT_CPU, 'tinyproxy', ['-d', '-c', tinyConf], {
    probe: () => canConnect(tinyPort),
  });
  // mitmproxy (mitmdump), intercepting TLS with its own CA, trusting the upstream's certificate.
  const mitmPort = await freePort();
  const mitmDir = join(ctx.dir, 'mitmproxy');
  const mitmCaFile = join(mitmDir, 'mitmproxy-ca-cert.pem');
  const mitm = await children.start(
    'mitmproxy',
    SUBJECT_CPU,
    'mitmdump',
    [
      '--listen-host',
      '127.0.0.1',
      '--listen-port',
      String(mitmPort),
      '--set',
      `confdir=${mitmDir}`,
      '--set',
      `ssl_verify_upstream_trusted_ca=${cert}`,
      '-q',
    ],
    { probe: async () => existsSync(mitmCaFile) && (await canConnect(mitmPort)), timeoutMs: 30_000 },
  );
  const mitmCa = await readFile(mitmCaFile, 'utf8');

  const plain = [
    {
      id: 'direct',
      port: up.ready['port'] as number,
      pid: undefined,
      path: SMALL_PATH,
      closes: false,
      headers: AGENT_GET_HEADERS,
    },
    { id: 'tinyproxy', port: tinyPort, pid: tiny.pid, path: smallUrl, closes: true, headers: proxied },
    {
      id: 'errand proxy (http grant)',
      port: errand.proxyPort!,
      pid: errand.pid,
      path: smallUrl,
      closes: false,
      headers: proxied,
    },
  ];
  const tlsPort = tlsUp.ready['port'] as number;
  // The same client for both: one CONNECT tunnel per worker, TLS inside it checked against the
  // proxy's CA, the same GET each time. mitmproxy is asked for the upstream by address (no SNI, as
  // any client sends for an IP); Errand for the S3 endpoint name it intercepts.
  const tunnels = [
    {
      id: 'mitmproxy (CONNECT + TLS)',
      pid: mitm.pid,
      proxyPort: mitmPort,
      authority: `127.0.0.1:${tlsPort}`,
      ca: mitmCa,
      request: buildRequest(SMALL_PATH, `127.0.0.1:${tlsPort}`, {}),
    },
    {
      id: 'errand (CONNECT + TLS, SigV4)',
      pid: errand.pid,
      proxyPort: errand.proxyPort!,
      authority: `${AWS_HOST}:443`,
      ca: podCa,
      request: buildRequest(SMALL_PATH, AWS_HOST, AGENT_GET_HEADERS),
    },
  ];
  const plainIds = plain.map((s) => s.id);
  const tunnelIds = tunnels.map((s) => s.id);
  const rps = new RoundTable([...plainIds, ...tunnelIds]);
  const cpu = new RoundTable([...plainIds.slice(1), ...tunnelIds]);
  const loadCpu = new RoundTable(tunnelIds);
  const seconds = tier.wrkSeconds;
  // Warm-up: JIT (see Tier.warmupSeconds), pools, leaf certificates.
  for (const s of plain)
    await runWrk({
      cpu: LOAD_CPU,
      url: `http://127.0.0.1:${s.port}`,
      script: wrkScript(s.path, s.headers),
      connections: CONNECTIONS,
      seconds: tier.warmupSeconds,
      dir: ctx.dir,
      closesConnections: s.closes,
    });
  for (const s of tunnels) await tunnelLoop({ ...s, workers: TUNNELS, seconds: tier.warmupSeconds });

  for (let round = 0; round < tier.rounds; round++) {
    for (const s of roundOrder(plain, round)) {
      const before = s.pid === undefined ? 0 : await cpuTicks(s.pid);
      const w = await runWrk({
        cpu: LOAD_CPU,
        url: `http://127.0.0.1:${s.port}`,
        script: wrkScript(s.path, s.headers),
        connections: CONNECTIONS,
        seconds,
        dir: ctx.dir,
        closesConnections: s.closes,
      });
      rps.set(s.id, round, w.rps);
      if (s.pid !== undefined)
        cpu.set(s.id, round, (((await cpuTicks(s.pid)) - before) / hz / w.requests) * 1e6);
    }
    for (const s of roundOrder(tunnels, round)) {
      // Both CPU readings start with the clock, once the tunnels are open: requests, not handshakes.
      let before = 0;
      let client = process.cpuUsage();
      const r = await tunnelLoop({
        ...s,
        workers: TUNNELS,
        seconds,
        onStart: async () => {
          before = await cpuTicks(s.pid);
          client = process.cpuUsage();
        },
      });
      const clientUs = process.cpuUsage(client);
      rps.set(s.id, round, r.rps);
      cpu.set(s.id, round, (((await cpuTicks(s.pid)) - before) / hz / r.requests) * 1e6);
      loadCpu.set(s.id, round, (clientUs.user + clientUs.system) / r.requests);
    }
    ctx.log(`  round ${round + 1} done`);
  }
  const rpsM = rps.metric('rps', 'Throughput through a forward proxy', 'req/s', 'higher');
  const cpuM = cpu.metric('cpu', 'CPU of the proxy process per request', 'µs', 'lower');
  // The runner shares the load core with the https upstream: its own cost says whether the load
  // generator, not the proxy, could be what limits a tunnel subject's throughput.
  const loadM = loadCpu.metric(
    'load-cpu',
    'CPU of the tunnel client (runner, load core) per request',
    'µs',
    'lower',
  );
  const intercept = compare(rpsM, 'errand (CONNECT + TLS, SigV4)', 'mitmproxy (CONNECT + TLS)');
  return {
    id: 'forward-proxy',
    title: 'Small GET through the forward proxy and through CONNECT + TLS interception',
    status: 'measured',
    note: bundle.note,
    method:
      'Plain http through HTTP_PROXY: absolute-form GET of the 1 KiB object, wrk (1 thread, ' +
      `${CONNECTIONS} connections), Errand authorizing it by an HTTP grant (unsafeAllowPlainHttp, ` +
      'unsafeAllowPrivateAddress: the upstream is on loopback), against tinyproxy and direct. HTTPS through ' +
      `CONNECT: ${TUNNELS} tunnels in a closed loop (wrk has no CONNECT): the runner opens the tunnels ` +
      "(CONNECT, then TLS checked against the proxy's CA) before the clock starts and sends one pre-built " +
      'GET at a time on each, reading answers by Content-Length, so the client costs the load core little; ' +
      `Errand intercepts ${AWS_HOST} with its pod CA and runs the AWS pipeline (classify, authorize, SigV4) ` +
      'to the https upstream; mitmproxy (mitmdump, quiet) intercepts with its own CA and relays to the same ' +
      "upstream. Throughput and the proxy's CPU are counted from the clock start, without the handshakes; " +
      "the client's own CPU per request is reported too.",
    metrics: [rpsM, cpuM, loadM],
    comparisons: [
      compare(rpsM, 'errand proxy (http grant)', 'tinyproxy'),
      compare(rpsM, 'errand proxy (http grant)', 'direct'),
      compare(cpuM, 'errand proxy (http grant)', 'tinyproxy'),
      intercept,
      compare(cpuM, 'errand (CONNECT + TLS, SigV4)', 'mitmproxy (CONNECT + TLS)'),
    ],
    targets: [
      judge('rps-intercept', 'interception ≥ 5× mitmproxy throughput', intercept.perRound, '>=', 5, '×'),
    ],
  };
}
