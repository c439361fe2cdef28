// STS throttled or unreachable, at start and at refresh, seen from the sidecar: what the agent gets,
// what /readyz says, that no use is taken while Errand has no session, and that Errand recovers when
// STS does. STS is the emulator behind a fault-injecting front (test/helpers/sts-front.ts); Errand's
// STS client is the real AWS SDK. (The retry and refresh arithmetic itself is unit-tested in
// test/unit/credentials-sts-sessions.test.ts.)

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { createStsQueryClient } from '../../src/credentials/sts-query.ts';
import { type StsClientLike, StsSessions } from '../../src/credentials/sts-sessions.ts';
import { compileSessionPolicies, sessionParameters } from '../../src/manifest/policy.ts';
import type { LoadedManifest, Manifest } from '../../src/manifest/types.ts';
import type { SessionCredentials } from '../../src/sidecar.ts';
import { AGENT_AUTH } from '../helpers/adversarial.ts';
import { signTask, spawnErrand, waitReady } from '../helpers/errand-process.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { type Moto, startMoto } from '../helpers/moto.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { inMinutes, startTestSidecar } from '../helpers/sidecar.ts';
import { type StsFront, startStsFront } from '../helpers/sts-front.ts';

let moto: Moto;
let front: StsFront;
let upstream: RecordingUpstream;
let dir: string;
t.before(async () => {
  moto = await startMoto();
  front = await startStsFront(moto.endpoint);
  upstream = await startRecordingUpstream();
  dir = await mkdtemp(join(tmpdir(), 'errand-sts-faults-'));
});
t.teardown(async () => {
  await front?.close();
  await upstream?.close();
  await moto?.stop();
  await rm(dir, { recursive: true, force: true });
});

const get = async (endpoint: string, path: string) => {
  const r = await request(`${endpoint}${path}`, {
    headers: { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  });
  return { status: r.statusCode, body: await r.body.text() };
};

t.test('errand run, STS throttling at start', async (t) => {
  const task = await signTask(
    dir,
    `apiVersion: errand.dev/v1
kind: TaskManifest
task:
  id: tsk_sts_start
  purpose: read one report
  user: { subject: alice@example.com, session: sess_sts }
  expiresAt: ${inMinutes(30)}
aws:
  region: us-east-1
  roleArn: ${moto.roleArn}
  grants:
    - { id: read-report, action: s3:GetObject, resource: "arn:aws:s3:::acme-uploads/users/alice/report.pdf" }
`,
  );
  const env = { ...moto.env(), AWS_ENDPOINT_URL_STS: front.url, AWS_ENDPOINT_URL_S3: upstream.url };
  const args = (state: string) => [
    '--manifest',
    task.manifest,
    '--trust-key',
    task.trustKey,
    '--state-dir',
    join(dir, state),
  ];

  t.test('a short burst of throttling: retried with backoff, then ready', async (t) => {
    front.setMode('throttle', 2);
    const before = front.calls.length;
    const e = await spawnErrand(args('burst'), env);
    t.teardown(() => e.kill9());
    const ready = await waitReady(e);
    t.equal(ready.status, 200, `${ready.body} ${e.stderr()}`);
    t.same(
      front.calls.slice(before).map((c) => c.mode),
      ['throttle', 'throttle', 'pass'],
      'two throttled AssumeRole calls, then the one that worked',
    );
    t.notMatch(e.stderr(), /could not be minted/);
    t.equal((await get(e.endpoint, '/acme-uploads/users/alice/report.pdf')).status, 200);
    t.equal((await e.stop()).code, 0);
  });

  t.test(
    'throttled throughout: not ready, a bounded number of calls, requests 503 and no use taken',
    async (t) => {
      front.setMode('throttle');
      t.teardown(() => front.setMode('pass'));
      const before = front.calls.length;
      const forwarded = upstream.requests.length;
      const e = await spawnErrand(args('throttled'), env);
      t.teardown(() => e.kill9());
      const ready = await waitReady(e, 20_000, (r) => /credentials failed: (?!starting)/.test(r.body));
      t.equal(ready.status, 503);
      t.match(
        ready.body,
        '[-]credentials failed: not-ready: ERR_STS_THROTTLED: STS is throttling AssumeRole: Throttling (HTTP 400)',
      );
      t.match(e.stderr(), /"code":"ERR_STS_THROTTLED".*"msg":"STS session could not be minted"/);
      t.equal(front.calls.length - before, 4, 'four AssumeRole calls, then a cooldown: no storm against STS');
      const r = await get(e.endpoint, '/acme-uploads/users/alice/report.pdf');
      t.equal(r.status, 503, 'retryable: the SDK may try again');
      t.match(r.body, /credentials_unavailable/);
      t.equal(
        front.calls.length - before,
        4,
        'a request does not trigger another AssumeRole in the cooldown',
      );
      const metrics = await (await fetch(`http://127.0.0.1:${e.opsPort}/metrics`)).text();
      t.match(metrics, /errand_grant_uses_remaining\{grant="read-report"\} 1/, 'no use was taken');
      t.equal(upstream.requests.length, forwarded, 'nothing was forwarded');
      t.equal((await e.stop()).code, 0);
    },
  );
});

// ---- refresh: the sidecar with a virtual clock driving the STS session timers ----

/** A clock whose timers fire only when advanced; network I/O still runs in real time between steps. */
class VirtualClock {
  offset = 0;
  readonly base = Date.now();
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #id = 0;
  now = (): number => this.base + this.offset;
  setTimer = (fn: () => void, ms: number): (() => void) => {
    const id = this.#id++;
    this.#timers.push({ at: this.now() + ms, fn, id });
    return () => {
      this.#timers = this.#timers.filter((x) => x.id !== id);
    };
  };
  /** Moves time forward, firing due timers in order and letting the STS calls they start finish. */
  async advance(ms: number): Promise<void> {
    const target = this.now() + ms;
    for (;;) {
      await settleSts();
      const due = this.#timers.filter((x) => x.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((x) => x.id !== due.id);
      this.offset = Math.max(this.offset, due.at - this.base);
      due.fn();
    }
    this.offset = target - this.base;
    await settleSts();
  }
}

/** AssumeRole calls Errand's client has sent and not yet finished with (answer parsed or failed). */
let clientInFlight = 0;
/** The real client, counted: a test step waits for every call it started to settle. */
const countingClient = (client: StsClientLike): StsClientLike => ({
  async assumeRole(parameters, options) {
    clientInFlight++;
    try {
      return await client.assumeRole(parameters, options);
    } finally {
      // Let the caller's continuation (the next attempt, or recording the failure) run first.
      setTimeout(() => clientInFlight--, 5);
    }
  },
});

/** Waits until every AssumeRole started has settled and nothing new started for a while. */
async function settleSts(): Promise<void> {
  for (let quiet = 0; quiet < 3; ) {
    await new Promise((r) => setTimeout(r, 15));
    quiet = clientInFlight === 0 && front.inFlight === 0 ? quiet + 1 : 0;
  }
}

/** The sidecar's credentials as `errand run` assembles them (src/task-credentials.ts), with the
 *  session owner's timers on the virtual clock and its STS client pointed at the front. */
function taskCredentials(loaded: LoadedManifest, clock: VirtualClock): SessionCredentials {
  const m = loaded.manifest;
  const policies = new Map(compileSessionPolicies(m).map((p) => [p.sessionKey, p]));
  const sessions = new StsSessions({
    isolation: 'task',
    deadlineMs: loaded.expiresAtMs,
    grantIds: (m.aws?.grants ?? []).map((g) => g.id),
    parametersFor: (key) => {
      const p = sessionParameters(loaded, policies.get(key)!);
      if (!p.ok) throw new Error(p.problems.map((x) => x.message).join('; '));
      return p.parameters;
    },
    client: countingClient(
      createStsQueryClient({
        region: 'us-east-1',
        env: { AWS_ENDPOINT_URL_STS: front.url },
        credentials: async () => moto.sourceCredentials,
        connectTimeoutMs: 3000,
        requestTimeoutMs: 5000,
      }),
    ),
    now: clock.now,
    setTimer: clock.setTimer,
    sleep: async () => undefined,
  });
  return {
    start: () => sessions.start().catch(() => undefined),
    problem() {
      const s = sessions.status();
      if (s.ready) return undefined;
      return s.lastError ? `${s.state}: ${s.lastError.code}: ${s.lastError.message}` : s.state;
    },
    wipe: () => sessions.wipe(),
    credentialsFor: (ids) => sessions.credentialsFor(ids),
    secrets: () => sessions.secrets(),
  };
}

const REFRESH_CASES = [
  { fault: 'throttle' as const, code: 'ERR_STS_THROTTLED', detail: 'Throttling (HTTP 400)' },
  // The SDK names a dropped connection TimeoutError (code ECONNRESET); the detail shows the name.
  { fault: 'reset' as const, code: 'ERR_STS_UNREACHABLE', detail: 'ECONNRESET' },
];

for (const c of REFRESH_CASES) {
  t.test(
    `STS ${c.fault} at refresh: the session in hand serves until it expires, then 503 without a use, then recovery`,
    async (t) => {
      const clock = new VirtualClock();
      const grants = ['a', 'b', 'c'].map((k) =>
        awsGrant({ id: `read-${k}`, action: 's3:GetObject', resources: [`arn:aws:s3:::acme-uploads/${k}`] }),
      );
      const manifest: Manifest = {
        ...manifestWith(grants, [], inMinutes(30)),
        aws: { ...manifestWith(grants).aws!, roleArn: moto.roleArn },
      };
      const loaded: LoadedManifest = Object.freeze({
        manifest,
        sha256: createHash('sha256').update(JSON.stringify(manifest)).digest('hex'),
        expiresAtMs: Date.parse(manifest.task.expiresAt),
        signed: true,
      });
      front.setMode('pass');
      t.teardown(() => {
        front.setMode('pass');
        front.shiftExpiration(0);
      });
      const sc = await startTestSidecar({
        manifest,
        upstreamUrl: upstream.url,
        credentials: taskCredentials(loaded, clock),
        now: clock.now,
        ops: true,
      });
      t.teardown(() => sc.stop());
      const readyz = async () => {
        const r = await fetch(`http://127.0.0.1:${sc.sidecar.opsPort}/readyz?verbose`);
        return { status: r.status, body: await r.text() };
      };
      const tokenSent = () => String(upstream.requests.at(-1)?.headers['x-amz-security-token'] ?? '');
      t.equal((await readyz()).status, 200);
      t.equal((await get(sc.endpoint, '/acme-uploads/a')).status, 200);
      const first = front.minted.at(-1)!;
      t.equal(tokenSent(), first.sessionToken, 'signed with the minted session');

      // 10 minutes in, the refresh fails (every attempt): the session in hand still serves.
      front.setMode(c.fault);
      const calls = front.calls.length;
      await clock.advance(601_000);
      t.equal(front.calls.length - calls, 4, 'the refresh tried four times');
      t.equal((await readyz()).status, 200, 'still ready: the current session is valid for 5 more minutes');
      t.equal((await get(sc.endpoint, '/acme-uploads/b')).status, 200);
      t.equal(tokenSent(), first.sessionToken, 'served with the session in hand');

      // Past its expiry, with STS still failing: not ready, with the reason; refused before a use.
      await clock.advance(300_000);
      const retries = (front.calls.length - calls) / 4;
      t.ok(retries >= 5 && retries <= 12, `retried every cooldown (30 s), ${retries} rounds in 5 minutes`);
      const notReady = await readyz();
      t.equal(notReady.status, 503);
      t.match(notReady.body, `[-]credentials failed: not-ready: ${c.code}:`);
      t.match(notReady.body, c.detail);
      const forwarded = upstream.requests.length;
      const refused = await get(sc.endpoint, '/acme-uploads/c');
      t.equal(refused.status, 503);
      t.match(refused.body, /credentials_unavailable/);
      t.equal(sc.sidecar.context.ledger.remaining('read-c'), 1, 'no use was taken');
      t.equal(upstream.requests.length, forwarded, 'nothing was forwarded');
      const records = await sc.auditRecords();
      t.match(records.at(-1), {
        event: 'egress_decision',
        decision: 'error',
        reason: 'credentials_unavailable',
      });

      // STS is back: the next retry mints a new session, and the grant is served.
      front.setMode('pass');
      front.shiftExpiration(clock.offset);
      await clock.advance(31_000);
      const again = await readyz();
      t.equal(again.status, 200, `ready again: ${again.body}`);
      t.equal((await get(sc.endpoint, '/acme-uploads/c')).status, 200);
      t.not(tokenSent(), first.sessionToken, 'with the new session');
      t.equal(tokenSent(), front.minted.at(-1)!.sessionToken);
    },
  );
}
