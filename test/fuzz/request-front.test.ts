// Fuzz target (M2): arbitrary bytes at a running sidecar's AWS endpoint, for a bounded time. Inputs are
// raw bytes, and well-formed requests mutated at the byte level (smuggling-shaped headers, bare LF,
// obs-fold, duplicate and conflicting framing, pipelining, truncation). Oracles: Errand never answers
// 500 (a handler bug), the process stays up, every request the upstream receives is a well-formed
// request for a granted object, each with its own allow decision in the audit log, and a well-formed
// request is still served afterwards. ERRAND_FC_SEED replays a failure; ERRAND_FUZZ_MS sets the budget.

import { connect } from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import { AGENT_AUTH } from '../helpers/adversarial.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { inMinutes, startTestSidecar, TEST_CREDENTIALS } from '../helpers/sidecar.ts';

const BUDGET_MS = Number(process.env['ERRAND_FUZZ_MS'] ?? 10_000);
const SEED = Number(process.env['ERRAND_FC_SEED'] ?? Date.now() % 2 ** 31);
const GRANTED = new Set(['/acme-uploads/users/alice/report.pdf', '/acme-uploads/out/summary.txt']);

/** Sends bytes and collects the answer: until the server closes, or, once nothing has arrived for a
 *  moment, half-closes (an incomplete request then ends) and waits for the close (bounded). */
const exchange = (port: number, bytes: Buffer): Promise<string> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let ended = false;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (ended) return done();
        ended = true;
        socket.end();
        timer = setTimeout(done, 1000);
      }, 60);
    };
    socket.on('data', (c) => {
      chunks.push(c);
      if (!ended) arm();
    });
    socket.on('close', done);
    socket.on('error', done);
    socket.on('connect', () => {
      socket.write(bytes);
      arm();
    });
  });

const template = (port: number, method: string, path: string, extra: string[] = [], body = '') =>
  [
    `${method} ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    `Authorization: ${AGENT_AUTH}`,
    'x-amz-date: 20261129T000000Z',
    'x-amz-content-sha256: UNSIGNED-PAYLOAD',
    ...extra,
    '',
    body,
  ].join('\r\n');

const SPLICES = [
  '\r\n',
  '\n',
  '\r',
  '\r\n ',
  '\r\n\t',
  '\u0000',
  '\x7f',
  'Transfer-Encoding: chunked\r\n',
  'Transfer-Encoding: xchunked\r\n',
  'Content-Length: 0\r\n',
  'Content-Length: 5\r\nContent-Length: 6\r\n',
  'Content-Length: -1\r\n',
  'Host: evil.test\r\n',
  'Expect: 100-continue\r\n',
  'Upgrade: h2c\r\n',
  'X-Amz-Security-Token: x\r\n',
  'x-amz-copy-source: acme-uploads/users/bob/secret.txt\r\n',
  '0\r\n\r\n',
  'GET /acme-uploads/users/bob/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n',
  ' HTTP/1.0',
  '%',
  '%2e%2e/',
  '/../',
  '?acl',
  '?x-id=GetObject&x-id=PutObject',
  '#',
  'é',
];

t.test(
  `arbitrary bytes never crash the sidecar nor reach the upstream ungranted (${BUDGET_MS} ms, seed ${SEED})`,
  async (t) => {
    const upstream = await startRecordingUpstream();
    t.teardown(() => upstream.close());
    const manifest = manifestWith(
      [
        awsGrant({
          id: 'read',
          action: 's3:GetObject',
          resources: ['arn:aws:s3:::acme-uploads/users/alice/report.pdf'],
          uses: 'unlimited',
        }),
        awsGrant({
          id: 'write',
          action: 's3:PutObject',
          resources: ['arn:aws:s3:::acme-uploads/out/summary.txt'],
          uses: 'unlimited',
        }),
      ],
      [],
      inMinutes(30),
    );
    const sc = await startTestSidecar({ manifest, upstreamUrl: upstream.url });
    t.teardown(() => sc.stop());
    const port = sc.port;
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
    t.teardown(() => {
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUncaught);
    });

    const base = fc.oneof(
      fc.constant(template(port, 'GET', '/acme-uploads/users/alice/report.pdf')),
      fc.constant(template(port, 'PUT', '/acme-uploads/out/summary.txt', ['Content-Length: 5'], 'hello')),
      fc.constant(template(port, 'GET', '/acme-uploads/users/bob/secret.txt')),
      fc.constant(template(port, 'POST', '/acme-uploads?delete', ['Content-Length: 10'], '<Delete/>\r\n')),
    );
    const edit = fc.record({
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      del: fc.nat(8),
      insert: fc.oneof(fc.constantFrom(...SPLICES), fc.string({ unit: 'binary-ascii', maxLength: 6 })),
    });
    const input = fc.oneof(
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)) },
      {
        weight: 5,
        arbitrary: fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([text, edits]) =>
          Buffer.from(
            edits.reduce((s, e) => {
              const i = Math.floor(e.at * s.length);
              return s.slice(0, i) + e.insert + s.slice(i + e.del);
            }, text),
            'latin1',
          ),
        ),
      },
      {
        weight: 1,
        arbitrary: fc.array(base, { minLength: 2, maxLength: 3 }).map((r) => Buffer.from(r.join(''))),
      },
    );

    const stats = { runs: 0, statuses: new Map<string, number>() };
    await fc.assert(
      fc.asyncProperty(input, async (bytes) => {
        stats.runs++;
        const answer = await exchange(port, bytes);
        for (const m of answer.matchAll(/HTTP\/1\.1 (\d{3}) /g))
          stats.statuses.set(m[1]!, (stats.statuses.get(m[1]!) ?? 0) + 1);
        if (/HTTP\/1\.1 500 |Errand internal error/.test(answer))
          throw new Error(`Errand answered 500 to ${JSON.stringify(bytes.toString('latin1'))}`);
        if (uncaught.length > 0) throw new Error(`uncaught: ${String(uncaught[0])}`);
      }),
      { numRuns: 1_000_000, interruptAfterTimeLimit: BUDGET_MS, markInterruptAsFailure: false, seed: SEED },
    );

    // What reached the upstream: only well-formed requests for granted objects, signed by Errand.
    for (const r of upstream.requests) {
      if (!GRANTED.has(r.url) || !['GET', 'HEAD', 'PUT'].includes(r.method))
        t.fail(`the upstream received ${r.method} ${r.url}`);
      if (!String(r.headers['authorization']).includes(`Credential=${TEST_CREDENTIALS.accessKeyId}/`))
        t.fail(`${r.method} ${r.url} was not signed by Errand`);
    }
    await new Promise((r) => setTimeout(r, 100));
    const allows = (await sc.auditRecords()).filter(
      (r) => r['event'] === 'egress_decision' && r['decision'] === 'allow',
    );
    t.ok(
      allows.length >= upstream.requests.length,
      `${upstream.requests.length} forwards, ${allows.length} allow decisions`,
    );
    t.ok(
      stats.runs >= 200,
      `enough inputs in the budget: ${stats.runs}, statuses ${JSON.stringify([...stats.statuses])}`,
    );
    t.ok(upstream.requests.length >= 1, 'some mutated requests were still well-formed and granted');
    t.same(uncaught, [], 'no uncaught exception or rejection');

    // Still serving.
    const ok = await exchange(
      port,
      Buffer.from(template(port, 'GET', '/acme-uploads/users/alice/report.pdf')),
    );
    t.match(ok, /^HTTP\/1\.1 200 /, 'a well-formed granted request is still served');
  },
);
