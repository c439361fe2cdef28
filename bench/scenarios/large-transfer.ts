import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import { makeCertificate } from '../lib/certificate.ts';
import { type BenchContext, LOAD_CPU, roundOrder, SUBJECT_CPU } from '../lib/context.ts';
import {
  AGENT_GET_HEADERS,
  benchManifest,
  bigPath,
  errandEntry,
  type RunningErrand,
  runsAs,
  signBenchManifest,
  standInEnv,
  startErrand,
} from '../lib/errand.ts';
import { memory, resetPeakRss } from '../lib/proc.ts';
import { compare, judge, RoundTable, type ScenarioResult } from '../lib/results.ts';
import { type PayloadMode, patternSha256, prepareBody, timedGet, timedPut } from '../lib/transfer.ts';

// Scenario 3: large S3 PUTs and GETs through Errand, in each payload mode, against the same
// transfer straight to the same upstream. Pass-through modes need a TLS upstream (Errand refuses
// to send an unsigned body over plain http and signs its chunks instead), so they run against the
// https upstream; chunk re-signing runs against the http one.

const MiB = 1024 * 1024;
const WARM_UP_BYTES = 16 * MiB;

interface Subject {
  readonly id: string;
  readonly kind: 'put' | 'get';
  readonly via: 'errand-tls' | 'errand-http' | 'direct-tls' | 'direct-http';
  readonly mode: PayloadMode;
}

const SUBJECTS: readonly Subject[] = [
  { id: 'direct PUT (https)', kind: 'put', via: 'direct-tls', mode: 'raw' },
  { id: 'errand PUT client hash', kind: 'put', via: 'errand-tls', mode: 'client-hash' },
  { id: 'errand PUT unsigned', kind: 'put', via: 'errand-tls', mode: 'unsigned' },
  { id: 'errand PUT trailer', kind: 'put', via: 'errand-tls', mode: 'trailer' },
  { id: 'direct PUT (http)', kind: 'put', via: 'direct-http', mode: 'raw' },
  { id: 'errand PUT re-signed chunks', kind: 'put', via: 'errand-http', mode: 'unsigned' },
  { id: 'direct GET (https)', kind: 'get', via: 'direct-tls', mode: 'raw' },
  { id: 'errand GET', kind: 'get', via: 'errand-tls', mode: 'raw' },
];

export async function runLargeTransfer(ctx: BenchContext): Promise<ScenarioResult> {
  const { tier, children, node } = ctx;
  const server = join(import.meta.dirname, '..', 'servers', 'upstream.ts');
  const { key, cert } = await makeCertificate(ctx.dir, 'upstream');
  const ca = await readFile(cert, 'utf8');
  const httpUp = await children.start('upstream-http', LOAD_CPU, node, [server]);
  const tlsUp = await children.start('upstream-https', LOAD_CPU, node, [
    server,
    '--tls-key',
    key,
    '--tls-cert',
    cert,
  ]);
  const sts = await children.start('sts', LOAD_CPU, node, [
    join(import.meta.dirname, '..', 'servers', 'sts-stand-in.ts'),
  ]);
  const stsUrl = `http://127.0.0.1:${sts.ready['port'] as number}`;
  const httpUrl = `http://127.0.0.1:${httpUp.ready['port'] as number}`;
  const tlsUrl = `https://127.0.0.1:${tlsUp.ready['port'] as number}`;
  const manifest = await signBenchManifest(
    ctx.dir,
    benchManifest(new Date(Date.now() + 2 * 3600_000), [WARM_UP_BYTES, ...tier.transferBytes]),
    node,
  );
  const bundle = await errandEntry(node);
  const errandTls = await startErrand(children, {
    ...runsAs(bundle),
    node,
    cpu: SUBJECT_CPU,
    dir: ctx.dir,
    manifest,
    awsEnv: standInEnv(stsUrl, tlsUrl),
    upstreamCaFile: cert,
    name: 'errand-tls',
  });
  const errandHttp = await startErrand(children, {
    ...runsAs(bundle),
    node,
    cpu: SUBJECT_CPU,
    dir: ctx.dir,
    manifest,
    awsEnv: standInEnv(stsUrl, httpUrl),
    name: 'errand-http',
  });
  const dispatcher = new Agent({ connect: { ca }, keepAliveTimeout: 10_000 });
  const errandOf = (s: Subject): RunningErrand | undefined =>
    s.via === 'errand-tls' ? errandTls : s.via === 'errand-http' ? errandHttp : undefined;
  const urlOf = (s: Subject, size: number): string => {
    const base =
      s.via === 'direct-tls'
        ? tlsUrl
        : s.via === 'direct-http'
          ? httpUrl
          : `http://127.0.0.1:${errandOf(s)!.port}`;
    return `${base}${bigPath(size)}`;
  };
  const hashes = new Map<number, string>();
  const sha256 = (size: number) => () => {
    let h = hashes.get(size);
    if (h === undefined) {
      h = patternSha256(size);
      hashes.set(size, h);
    }
    return h;
  };

  /** One transfer; for Errand also its peak RSS over the idle RSS just before. */
  const transfer = async (s: Subject, size: number) => {
    const errand = errandOf(s);
    let idle = Number.NaN;
    if (errand) {
      idle = (await memory(errand.pid)).rss;
      await resetPeakRss(errand.pid);
    }
    const url = urlOf(s, size);
    const headers = errand ? AGENT_GET_HEADERS : {};
    const r =
      s.kind === 'get'
        ? await timedGet(url, headers, size, dispatcher)
        : await timedPut(url, prepareBody(s.mode, size, sha256(size)), putHeaders(headers), size, dispatcher);
    const growth = errand ? (await memory(errand.pid)).hwm - idle : Number.NaN;
    return { ...r, growth };
  };

  const measured = tier.transferBytes[0]!;
  const ids = SUBJECTS.map((s) => s.id);
  const mbps = new RoundTable(ids);
  const firstByte = new RoundTable(SUBJECTS.filter((s) => s.kind === 'put').map((s) => s.id));
  const errandIds = SUBJECTS.filter((s) => s.via.startsWith('errand')).map((s) => s.id);
  const rss = new RoundTable(errandIds);
  try {
    sha256(measured)();
    // Warm-up: one small transfer per subject.
    for (const s of SUBJECTS) await transfer(s, WARM_UP_BYTES);
    for (let round = 0; round < tier.rounds; round++) {
      for (const s of roundOrder(SUBJECTS, round)) {
        const r = await transfer(s, measured);
        mbps.set(s.id, round, r.bytesPerSecond / MiB);
        if (s.kind === 'put') firstByte.set(s.id, round, r.firstByteMs);
        if (errandOf(s)) rss.set(s.id, round, r.growth / MiB);
      }
      ctx.log(`  round ${round + 1} done`);
    }
    // Peak memory at the other sizes: Errand subjects only, one transfer each.
    const sizes = new RoundTable(
      tier.transferBytes.slice(1).flatMap((size) => errandIds.map((id) => `${id} @ ${size / MiB} MiB`)),
    );
    for (const size of tier.transferBytes.slice(1)) {
      for (const s of SUBJECTS.filter((x) => errandOf(x))) {
        const r = await transfer(s, size);
        sizes.set(`${s.id} @ ${size / MiB} MiB`, 0, r.growth / MiB);
        ctx.log(`  ${s.id} @ ${size / MiB} MiB: peak RSS +${(r.growth / MiB).toFixed(1)} MiB`);
      }
    }
    const size = `${measured / MiB} MiB`;
    const mbpsM = mbps.metric('throughput', `Throughput of one ${size} transfer`, 'MiB/s', 'higher');
    const fbM = firstByte.metric(
      'first-byte',
      'Request start to the upstream first body byte',
      'ms',
      'lower',
    );
    const rssM = rss.metric('rss', `Peak RSS over idle during a ${size} transfer`, 'MiB', 'lower');
    const otherM = sizes.metric(
      'rss-sizes',
      'Peak RSS over idle at other sizes (one transfer)',
      'MiB',
      'lower',
    );
    const passThrough = ['errand PUT client hash', 'errand PUT unsigned', 'errand PUT trailer'].map((id) =>
      compare(mbpsM, id, 'direct PUT (https)'),
    );
    const resigned = compare(mbpsM, 'errand PUT re-signed chunks', 'direct PUT (http)');
    const get = compare(mbpsM, 'errand GET', 'direct GET (https)');
    const allRss = [...Object.values(rssM.rounds).flat(), ...Object.values(otherM.rounds).flat()].filter(
      (v) => Number.isFinite(v),
    );
    const worstRss = allRss.length === 0 ? [] : [Math.max(...allRss)];
    const errandFirstBytes = errandIds
      .filter((id) => id.includes('PUT'))
      .map((id) => Math.max(...(fbM.rounds[id] ?? []).filter((v) => Number.isFinite(v))));
    return {
      id: 'large-transfer',
      title: 'Large S3 PUT and GET: pass-through payload modes and chunk re-signing',
      status: 'measured',
      note: bundle.note,
      method:
        `One ${size} object per transfer, generated as it is sent; PUTs in the payload modes an SDK uses ` +
        '(client hash: x-amz-content-sha256 = the body hash; unsigned: UNSIGNED-PAYLOAD; trailer: ' +
        'aws-chunked with a CRC32 trailer) through an Errand whose upstream is https, and UNSIGNED-PAYLOAD ' +
        'through an Errand whose upstream is plain http, which signs every 1 MiB chunk itself. Direct: the ' +
        'same bytes to the same upstream. Throughput: data bytes over request start to response end. Peak ' +
        "RSS: Errand's VmHWM (reset before each transfer) minus its VmRSS just before. First byte: the " +
        "upstream's clock at the first body byte minus the client's at request start (one machine, one clock).",
      metrics: [mbpsM, fbM, rssM, ...(tier.transferBytes.length > 1 ? [otherM] : [])],
      comparisons: [...passThrough, resigned, get],
      targets: [
        ...passThrough.map((c) =>
          judge(
            `throughput-${c.subject.replace(/^errand PUT /, '').replaceAll(' ', '-')}`,
            `pass-through ≥ 0.6× direct (${c.subject.replace(/^errand PUT /, '')})`,
            c.perRound,
            '>=',
            0.6,
            '×',
          ),
        ),
        judge('throughput-get', 'GET ≥ 0.6× direct', get.perRound, '>=', 0.6, '×'),
        judge('throughput-resigned', 're-signed chunks ≥ 0.4× direct', resigned.perRound, '>=', 0.4, '×'),
        judge('rss', 'peak RSS ≤ idle + 64 MiB (worst transfer, all sizes)', worstRss, '<=', 64, 'MiB'),
        judge(
          'first-byte',
          'upstream sees the first byte within 50 ms (worst Errand PUT)',
          errandFirstBytes.length === 0 ? [] : [Math.max(...errandFirstBytes)],
          '<=',
          50,
          'ms',
        ),
      ],
    };
  } finally {
    await dispatcher.close();
  }
}

/** An SDK's PUT headers: the GET set without the empty-body hash (the mode sets its own). */
function putHeaders(agent: Readonly<Record<string, string>>): Record<string, string> {
  const { 'x-amz-content-sha256': _hash, ...rest } = agent;
  return rest;
}
