// Unit tests of the STS session owner's pure logic: a fake STS client (allowed here: the logic under
// test is Errand's, not the SDK's) and a virtual clock that drives every timer and sleep.

import t from 'tap';
import type { AssumeRoleResult } from '../../src/credentials/sts-query.ts';
import {
  type AssumeRoleParameters,
  backoffMs,
  classifyStsError,
  createStsClient,
  DEFAULT_RETRY,
  refreshAtMs,
  type SessionKey,
  type StsClientLike,
  StsSessions,
  type StsSessionsOptions,
} from '../../src/credentials/sts-sessions.ts';

const T0 = Date.parse('2026-11-29T19:00:00Z');
const MIN = 60_000;

class VirtualTime {
  now = T0;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 0;
  readonly sleeps: number[] = [];
  setTimer = (fn: () => void, ms: number): (() => void) => {
    const id = this.#next++;
    this.#timers.push({ at: this.now + ms, fn, id });
    return () => {
      this.#timers = this.#timers.filter((x) => x.id !== id);
    };
  };
  sleep = (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    return new Promise((resolve) => this.setTimer(resolve, ms));
  };
  get pending(): number {
    return this.#timers.length;
  }
  async advance(ms: number): Promise<void> {
    const target = this.now + ms;
    await settle();
    for (;;) {
      const due = this.#timers.filter((x) => x.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((x) => x.id !== due.id);
      this.now = Math.max(this.now, due.at);
      due.fn();
      await settle();
    }
    this.now = target;
  }
}
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

type Reply = { expiresInMs?: number; noCredentials?: boolean } | { error: Record<string, unknown> } | 'hang';

class FakeSts implements StsClientLike {
  readonly inputs: AssumeRoleParameters[] = [];
  readonly signals: (AbortSignal | undefined)[] = [];
  readonly replies: Reply[];
  #n = 0;
  release: (() => void) | undefined;
  readonly time: VirtualTime;
  constructor(time: VirtualTime, replies: Reply[] = []) {
    this.time = time;
    this.replies = replies;
  }
  async assumeRole(
    parameters: AssumeRoleParameters,
    options?: { abortSignal?: AbortSignal },
  ): Promise<AssumeRoleResult> {
    this.inputs.push(parameters);
    this.signals.push(options?.abortSignal);
    const n = ++this.#n;
    const reply = this.replies.shift() ?? {};
    if (reply === 'hang') await new Promise<void>((resolve) => (this.release = resolve));
    if (typeof reply === 'object' && 'error' in reply)
      throw Object.assign(new Error('upstream text arn:aws:iam::111122223333:role/x'), reply.error);
    const r = reply === 'hang' ? {} : reply;
    return {
      ...(r.noCredentials
        ? {}
        : {
            Credentials: {
              AccessKeyId: `ASIA${n}`,
              SecretAccessKey: `secret-${n}`,
              SessionToken: `token-${n}`,
              Expiration: new Date(this.time.now + (r.expiresInMs ?? 15 * MIN)),
            },
          }),
    };
  }
}

const params = (key: SessionKey): AssumeRoleParameters => ({
  RoleArn: 'arn:aws:iam::111122223333:role/errand-task',
  RoleSessionName: key === 'task' ? 'tsk_01JD8Q7ZK3' : `tsk_01JD8Q7ZK3.${key.slice(6)}`,
  DurationSeconds: 900,
  Policy: `{"Version":"2012-10-17","Statement":[],"key":"${key}"}`,
  SourceIdentity: 'alice@example.com',
  Tags: [
    { Key: 'errand-task', Value: 'tsk_01JD8Q7ZK3' },
    { Key: 'errand-user', Value: 'alice@example.com' },
  ],
});

const setup = (over: Partial<StsSessionsOptions> = {}, replies: Reply[] = []) => {
  const time = new VirtualTime();
  const sts = new FakeSts(time, replies);
  const sessions = new StsSessions({
    isolation: 'task',
    deadlineMs: T0 + 60 * MIN,
    grantIds: ['read-report', 'write-summary'],
    parametersFor: params,
    client: sts,
    now: () => time.now,
    setTimer: time.setTimer,
    sleep: time.sleep,
    random: () => 0.5,
    ...over,
  });
  return { time, sts, sessions };
};

t.test('isolation task: start() mints one session with the manifest parameters', async (t) => {
  const { sts, sessions } = setup();
  t.same(sessions.status(), { ready: false, state: 'starting', sessions: [] });
  t.equal(sessions.isReady(), false, 'isReady agrees while starting');
  await sessions.start();
  t.equal(sessions.isReady(), true, 'and once the session is minted');
  t.equal(sts.inputs.length, 1);
  t.same(sts.inputs[0], { ...params('task'), Tags: params('task').Tags.map((x) => ({ ...x })) });
  const a = await sessions.sessionFor(['read-report']);
  const b = await sessions.sessionFor(['read-report', 'write-summary']);
  t.equal(a.credentials, b.credentials, 'one session serves every grant');
  t.equal(a.signingKeys, b.signingKeys);
  t.same(a.credentials, {
    accessKeyId: 'ASIA1',
    secretAccessKey: 'secret-1',
    sessionToken: 'token-1',
    expiration: new Date(T0 + 15 * MIN),
  });
  t.ok(Object.isFrozen(a.credentials));
  t.equal(await sessions.credentialsFor(['write-summary']), a.credentials);
  t.same(sessions.secrets(), ['ASIA1', 'secret-1', 'token-1']);
  t.same(sessions.status(), {
    ready: true,
    state: 'ready',
    sessions: [{ key: 'task', expiresAt: new Date(T0 + 15 * MIN).toISOString() }],
    expiresAt: new Date(T0 + 15 * MIN).toISOString(),
  });
  t.equal(sts.inputs.length, 1, 'no further AssumeRole');
});

t.test('requests name grants of this manifest only', async (t) => {
  const { sessions } = setup();
  await t.rejects(sessions.sessionFor([]), {
    code: 'ERR_CREDENTIALS_SESSION',
    message: /names no AWS grant of this manifest/,
  });
  await t.rejects(sessions.sessionFor(['other']), {
    code: 'ERR_CREDENTIALS_SESSION',
    message: /names no AWS grant/,
  });
});

t.test('isolation grant: one session per grant, minted on first use, single-flight', async (t) => {
  const { sts, sessions } = setup({ isolation: 'grant' });
  await sessions.start();
  t.equal(sts.inputs.length, 0, 'nothing minted before use');
  t.equal(sessions.status().state, 'ready');
  t.equal(sessions.isReady(), true, 'isolation grant: ready before any mint');
  const [a1, a2] = await Promise.all([
    sessions.sessionFor(['read-report']),
    sessions.sessionFor(['read-report']),
  ]);
  t.equal(sts.inputs.length, 1, 'two concurrent uses, one AssumeRole');
  t.equal(a1.credentials, a2.credentials);
  t.equal(a1.key, 'grant:read-report');
  t.equal(sts.inputs[0]?.RoleSessionName, 'tsk_01JD8Q7ZK3.read-report');
  const b = await sessions.sessionFor(['write-summary']);
  t.not(b.credentials, a1.credentials);
  t.equal(sts.inputs[1]?.Policy, params('grant:write-summary').Policy, 'each session gets its own policy');
  await t.rejects(sessions.sessionFor(['read-report', 'write-summary']), {
    code: 'ERR_CREDENTIALS_SESSION',
    message: /isolation: grant a request may use one grant only/,
  });

  // drop(): the spent grant's credentials and keys are gone, and never minted again.
  const key = a1.signingKeys.keyFor(a1.credentials, '20261129', 'us-east-1', 's3');
  sessions.drop('grant:read-report');
  t.ok(
    key.every((x) => x === 0),
    'derived key overwritten',
  );
  t.notOk(sessions.secrets().includes('secret-1'));
  t.ok(sessions.secrets().includes('secret-2'));
  await t.rejects(sessions.sessionFor(['read-report']), {
    code: 'ERR_CREDENTIALS_SESSION',
    message: /this grant is spent/,
  });
  t.equal(sts.inputs.length, 2);
});

t.test('refresh at 2/3 of the lifetime; the old session lives on until it expires', async (t) => {
  const { time, sts, sessions } = setup();
  await sessions.start();
  const first = await sessions.sessionFor(['read-report']);
  const oldKey = first.signingKeys.keyFor(first.credentials, '20261129', 'us-east-1', 's3');
  await time.advance(10 * MIN - 1);
  t.equal(sts.inputs.length, 1, 'not before 10 minutes (900 s - max(300 s, 300 s))');
  await time.advance(1);
  t.equal(sts.inputs.length, 2, 'refreshed at 10 minutes');
  const second = await sessions.sessionFor(['read-report']);
  t.equal(second.credentials.accessKeyId, 'ASIA2');
  t.same(
    sessions.secrets(),
    ['ASIA2', 'secret-2', 'token-2', 'ASIA1', 'secret-1', 'token-1'],
    'old values still redacted',
  );
  t.ok(
    oldKey.some((x) => x !== 0),
    'an upload still signing with the old key keeps working',
  );
  await time.advance(5 * MIN);
  t.ok(
    oldKey.every((x) => x === 0),
    'old key overwritten when the old session expired',
  );
  t.same(sessions.secrets(), ['ASIA2', 'secret-2', 'token-2']);
});

t.test('the deadline: no refresh past it, everything discarded at it', async (t) => {
  const { time, sts, sessions } = setup({ deadlineMs: T0 + 8 * MIN });
  await sessions.start();
  const s = await sessions.sessionFor(['read-report']);
  const key = s.signingKeys.keyFor(s.credentials, '20261129', 'us-east-1', 's3');
  await time.advance(8 * MIN);
  t.equal(sts.inputs.length, 1, 'the refresh (at 10 min) would fall after the deadline: none');
  t.ok(
    key.every((x) => x === 0),
    'keys overwritten at the deadline',
  );
  t.same(sessions.secrets(), []);
  t.same(sessions.status(), { ready: false, state: 'expired', sessions: [] });
  t.equal(sessions.isReady(), false, 'isReady agrees after the deadline');
  await t.rejects(sessions.sessionFor(['read-report']), {
    code: 'ERR_CREDENTIALS_EXPIRED',
    message: /deadline has passed/,
  });
  await time.advance(60 * MIN);
  t.equal(sts.inputs.length, 1, 'nothing minted after the deadline');
  t.equal(time.pending, 0, 'no timer left behind');
});

t.test('never mints at or after the deadline, even without a timer having fired', async (t) => {
  const { time, sts, sessions } = setup({ deadlineMs: T0 });
  await t.rejects(sessions.start(), { code: 'ERR_CREDENTIALS_EXPIRED' });
  t.equal(sts.inputs.length, 0);
  const late = setup({ isolation: 'grant', deadlineMs: T0 + MIN });
  late.time.now = T0 + MIN;
  await t.rejects(late.sessions.sessionFor(['read-report']), { code: 'ERR_CREDENTIALS_EXPIRED' });
  t.equal(late.sts.inputs.length, 0);
  void time;
});

const errorOf = (name: string, status?: number, code?: string): { error: Record<string, unknown> } => ({
  error: {
    name,
    ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }),
    ...(code ? { code } : {}),
  },
});

t.test('STS failures: bounded retries with backoff for retryable ones only', async (t) => {
  const rows: [string, Reply[], number, number[], string | undefined, RegExp | undefined][] = [
    [
      'throttled twice, then ok',
      [errorOf('Throttling', 400), errorOf('Throttling', 400), {}],
      3,
      [100, 200],
      undefined,
      undefined,
    ],
    ['a 500, then ok', [errorOf('InternalFailure', 500), {}], 2, [100], undefined, undefined],
    [
      'unreachable every time',
      [
        errorOf('Error', undefined, 'ECONNREFUSED'),
        errorOf('Error', undefined, 'ECONNREFUSED'),
        errorOf('Error', undefined, 'ECONNREFUSED'),
        errorOf('Error', undefined, 'ECONNREFUSED'),
      ],
      4,
      [100, 200, 400],
      'ERR_STS_UNREACHABLE',
      /^STS cannot be reached: ECONNREFUSED$/,
    ],
    [
      'throttled every time',
      [
        errorOf('Throttling', 400),
        errorOf('Throttling', 400),
        errorOf('Throttling', 400),
        errorOf('Throttling', 400),
      ],
      4,
      [100, 200, 400],
      'ERR_STS_THROTTLED',
      /^STS is throttling AssumeRole: Throttling \(HTTP 400\)$/,
    ],
    [
      'access denied: no retry',
      [errorOf('AccessDenied', 403)],
      1,
      [],
      'ERR_STS_ACCESS_DENIED',
      /^STS refused to let Errand assume the task role: AccessDenied \(HTTP 403\)$/,
    ],
    [
      'malformed policy: no retry',
      [errorOf('MalformedPolicyDocumentException', 400)],
      1,
      [],
      'ERR_STS_POLICY_MALFORMED',
      /malformed: MalformedPolicyDocumentException/,
    ],
    [
      'packed policy too large: no retry',
      [errorOf('PackedPolicyTooLargeException', 400)],
      1,
      [],
      'ERR_STS_POLICY_TOO_LARGE',
      /too large once packed/,
    ],
    [
      'region disabled: no retry',
      [errorOf('RegionDisabledException', 403)],
      1,
      [],
      'ERR_STS_REGION_DISABLED',
      /not activated in this region/,
    ],
  ];
  for (const [name, replies, calls, sleeps, code, message] of rows) {
    const { time, sts, sessions } = setup({}, [...replies]);
    const started = sessions.start();
    started.catch(() => {}); // judged below, once the virtual clock has run the backoff
    // The backoff sleeps run on the virtual clock.
    for (let i = 0; i < 5; i++) await time.advance(1000);
    if (code === undefined) {
      await started;
      t.equal(sessions.status().state, 'ready', `${name}: ready`);
    } else {
      await t.rejects(started, { code, message }, `${name}: the error`);
      const status = sessions.status();
      t.equal(status.ready, false, `${name}: not ready`);
      t.equal(status.state, 'not-ready');
      t.equal(status.lastError?.code, code);
      t.match(status.lastError?.message ?? '', message!);
      t.notMatch(JSON.stringify(status), /arn:aws|upstream text/, `${name}: no upstream text in the status`);
    }
    t.equal(sts.inputs.length, calls, `${name}: ${calls} call(s)`);
    t.same(time.sleeps, sleeps, `${name}: full-jitter backoff`);
  }
});

t.test('backoff never sleeps into the deadline', async (t) => {
  const { time, sts, sessions } = setup({ deadlineMs: T0 + 150, random: () => 0.99 }, [
    errorOf('Throttling', 400),
  ]);
  const started = sessions.start();
  started.catch(() => {});
  await time.advance(10);
  await t.rejects(started, { code: 'ERR_STS_THROTTLED' });
  t.equal(sts.inputs.length, 1, 'a 198 ms backoff would end past the deadline: no second call');
  t.same(time.sleeps, []);
});

t.test('after a failure: fail fast during the cooldown, then recover by itself', async (t) => {
  const { time, sts, sessions } = setup({}, [errorOf('AccessDenied', 403)]);
  await t.rejects(sessions.start(), { code: 'ERR_STS_ACCESS_DENIED' });
  await t.rejects(sessions.sessionFor(['read-report']), {
    code: 'ERR_CREDENTIALS_NOT_READY',
    message: /no usable AWS session for this task yet: last AssumeRole: ERR_STS_ACCESS_DENIED/,
  });
  t.equal(sts.inputs.length, 1, 'requests during the cooldown do not call STS');
  await time.advance(DEFAULT_RETRY.cooldownMs);
  t.equal(sts.inputs.length, 2, 'the task session is retried in the background');
  t.equal(sessions.status().state, 'ready');
  t.equal(sessions.status().lastError?.code, 'ERR_STS_ACCESS_DENIED', 'the last error stays visible');

  // With isolation: grant, a failed grant session is retried on use after the cooldown.
  const g = setup({ isolation: 'grant' }, [
    errorOf('Throttling', 400),
    errorOf('Throttling', 400),
    errorOf('Throttling', 400),
    errorOf('Throttling', 400),
  ]);
  const first = g.sessions.sessionFor(['read-report']);
  first.catch(() => {});
  for (let i = 0; i < 3; i++) await g.time.advance(1000);
  await t.rejects(first, { code: 'ERR_STS_THROTTLED' });
  await g.time.advance(DEFAULT_RETRY.cooldownMs);
  t.equal(g.sts.inputs.length, 4, 'no background retry for a grant session');
  t.equal((await g.sessions.sessionFor(['read-report'])).credentials.accessKeyId, 'ASIA5');
});

t.test('a refresh that fails keeps the current session until it expires', async (t) => {
  const fails = Array.from({ length: 4 }, () => errorOf('Error', undefined, 'ETIMEDOUT'));
  const { time, sts, sessions } = setup({}, [{}, ...fails]);
  await sessions.start();
  await time.advance(10 * MIN);
  for (let i = 0; i < 3; i++) await time.advance(1000);
  t.equal(sts.inputs.length, 5);
  t.equal(
    (await sessions.sessionFor(['read-report'])).credentials.accessKeyId,
    'ASIA1',
    'still valid for 5 minutes',
  );
  t.equal(sessions.status().lastError?.code, 'ERR_STS_UNREACHABLE');
  await time.advance(5 * MIN);
  t.equal(sts.inputs.length, 6, 'retried after the cooldown (30 s), before the old session expired');
  t.equal((await sessions.sessionFor(['read-report'])).credentials.accessKeyId, 'ASIA6');
});

t.test('a session no refresh could replace is discarded when it expires', async (t) => {
  const denied = Array.from({ length: 30 }, () => errorOf('AccessDenied', 403));
  const { time, sessions } = setup({}, [{}, ...denied]);
  await sessions.start();
  const s = await sessions.sessionFor(['read-report']);
  const key = s.signingKeys.keyFor(s.credentials, '20261129', 'us-east-1', 's3');
  await time.advance(15 * MIN - 1);
  t.equal(sessions.status().sessions.length, 1, 'usable until it expires');
  await time.advance(1);
  t.ok(
    key.every((x) => x === 0),
    'expired: keys overwritten',
  );
  t.same(sessions.secrets(), []);
  t.equal(sessions.status().ready, false);
  t.equal(sessions.status().state, 'not-ready');
  await t.rejects(sessions.sessionFor(['read-report']), { code: 'ERR_CREDENTIALS_NOT_READY' });
});

t.test('an answer without usable credentials is an error, not a session', async (t) => {
  const rows: [string, Reply][] = [
    ['no credentials', { noCredentials: true }],
    ['already expired', { expiresInMs: 0 }],
  ];
  for (const [name, reply] of rows) {
    const { sessions } = setup({}, [reply]);
    await t.rejects(
      sessions.start(),
      { code: 'ERR_STS_FAILED', message: /AssumeRole returned no usable credentials/ },
      name,
    );
    t.same(sessions.secrets(), []);
  }
});

t.test('parameters STS would refuse are refused before calling it', async (t) => {
  const rows: [string, Partial<AssumeRoleParameters>, RegExp][] = [
    ['a long session name', { RoleSessionName: 'x'.repeat(65) }, /RoleSessionName is not 2-64/],
    ['a space in the source identity', { SourceIdentity: 'alice smith' }, /SourceIdentity is not 2-64/],
    ['another duration', { DurationSeconds: 3600 }, /DurationSeconds is not 900/],
    ['no policy', { Policy: '' }, /Policy is empty/],
    ['not a role', { RoleArn: 'arn:aws:iam::111122223333:user/alice' }, /RoleArn is not a role ARN/],
  ];
  for (const [name, over, message] of rows) {
    const { sts, sessions } = setup({ parametersFor: (k) => ({ ...params(k), ...over }) });
    await t.rejects(sessions.start(), { code: 'ERR_CONFIG', message }, name);
    t.equal(sts.inputs.length, 0, `${name}: STS not called`);
  }
});

t.test('wipe(): everything discarded, nothing minted or returned afterwards', async (t) => {
  const { time, sts, sessions } = setup({ isolation: 'grant' }, [{}, 'hang']);
  const s = await sessions.sessionFor(['read-report']);
  const key = s.signingKeys.keyFor(s.credentials, '20261129', 'us-east-1', 's3');
  const inFlight = sessions.sessionFor(['write-summary']);
  inFlight.catch(() => {});
  await time.advance(0);
  sessions.wipe();
  t.ok(sts.signals[1]?.aborted, 'the in-flight AssumeRole is aborted');
  sts.release?.();
  await t.rejects(inFlight, { code: 'ERR_CREDENTIALS_WIPED' }, 'a late answer is discarded');
  t.ok(key.every((x) => x === 0));
  t.same(sessions.secrets(), []);
  t.same(sessions.status(), { ready: false, state: 'wiped', sessions: [] });
  await t.rejects(sessions.sessionFor(['read-report']), { code: 'ERR_CREDENTIALS_WIPED', message: /wiped/ });
  t.throws(() => s.signingKeys.keyFor(s.credentials, '20261129', 'us-east-1', 's3'), {
    code: 'ERR_CREDENTIALS_WIPED',
  });
  await time.advance(120 * MIN);
  t.equal(sts.inputs.length, 2);
  t.equal(time.pending, 0, 'no timer left behind');
  sessions.wipe();
  t.equal(sessions.status().state, 'wiped', 'wipe is idempotent; the deadline does not turn it into expired');
});

t.test('a deadline far away (beyond setTimeout range) still fires', async (t) => {
  const { time, sessions } = setup({ isolation: 'grant', deadlineMs: T0 + 40 * 24 * 60 * MIN });
  await sessions.start();
  await time.advance(39 * 24 * 60 * MIN);
  t.equal(sessions.status().state, 'ready');
  await time.advance(24 * 60 * MIN);
  t.equal(sessions.status().state, 'expired');
});

t.test('classifyStsError: code, retryability and a detail without upstream text', async (t) => {
  const rows: [string, unknown, string, boolean, string][] = [
    [
      'AccessDenied',
      { name: 'AccessDenied', message: 'User arn:aws:iam::1:user/x', $metadata: { httpStatusCode: 403 } },
      'ERR_STS_ACCESS_DENIED',
      false,
      'AccessDenied (HTTP 403)',
    ],
    [
      'bad source key',
      { name: 'InvalidClientTokenId', $metadata: { httpStatusCode: 403 } },
      'ERR_STS_ACCESS_DENIED',
      false,
      'InvalidClientTokenId (HTTP 403)',
    ],
    [
      'expired source token',
      { name: 'ExpiredTokenException', $metadata: { httpStatusCode: 400 } },
      'ERR_STS_FAILED',
      true,
      'ExpiredTokenException (HTTP 400)',
    ],
    [
      'no source credentials',
      { name: 'CredentialsProviderError' },
      'ERR_STS_FAILED',
      true,
      'CredentialsProviderError',
    ],
    ['timeout', { name: 'TimeoutError' }, 'ERR_STS_UNREACHABLE', true, 'TimeoutError'],
    [
      'DNS failure',
      { name: 'Error', code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND sts.internal' },
      'ERR_STS_UNREACHABLE',
      true,
      'ENOTFOUND',
    ],
    [
      'HTTP 429',
      { name: 'SomethingNew', $metadata: { httpStatusCode: 429 } },
      'ERR_STS_THROTTLED',
      true,
      'SomethingNew (HTTP 429)',
    ],
    [
      'HTTP 503',
      { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } },
      'ERR_STS_FAILED',
      true,
      'ServiceUnavailable (HTTP 503)',
    ],
    [
      'other 4xx',
      { name: 'ValidationError', $metadata: { httpStatusCode: 400 } },
      'ERR_STS_FAILED',
      false,
      'ValidationError (HTTP 400)',
    ],
    [
      'a hostile name',
      { name: 'x\r\nsecret: 1', $metadata: { httpStatusCode: 400 } },
      'ERR_STS_FAILED',
      false,
      'Error (HTTP 400)',
    ],
    ['not an object', 'boom', 'ERR_STS_UNREACHABLE', true, 'Error'],
  ];
  for (const [name, error, code, retryable, detail] of rows) {
    t.same(classifyStsError(error), { code, retryable, detail }, name);
  }
});

t.test('backoffMs and refreshAtMs', async (t) => {
  const p = { attempts: 4, baseMs: 200, capMs: 1000, cooldownMs: 0 };
  t.same(
    [0, 1, 2, 3, 4].map((a) => backoffMs(p, a, 0.999)),
    [199, 399, 799, 999, 999],
    'exponential, capped',
  );
  t.equal(backoffMs(p, 3, 0), 0, 'full jitter reaches zero');
  t.equal(refreshAtMs(0, 900_000), 600_000, '900 s session: at 600 s');
  t.equal(refreshAtMs(0, 3_600_000), 2_400_000, '1 h session: a third left');
  t.equal(refreshAtMs(0, 600_000), 300_000, 'short session: 5 minutes before expiry');
});

t.test('createStsClient builds an STS client without calling anything', async (t) => {
  const client = createStsClient('us-east-1', {});
  t.type(client.assumeRole, 'function');
});

t.test(
  'a bad STS endpoint setting stops the start as a configuration error, naming the setting',
  async (t) => {
    const cases: [Record<string, string>, string][] = [
      [{ AWS_USE_FIPS_ENDPOINT: 'maybe' }, 'the STS endpoint: AWS_USE_FIPS_ENDPOINT must be true or false'],
      [
        { AWS_USE_DUALSTACK_ENDPOINT: 'true', AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:5000' },
        'the STS endpoint: AWS_USE_DUALSTACK_ENDPOINT cannot be used with a configured STS endpoint',
      ],
    ];
    for (const [env, message] of cases) {
      t.throws(() => createStsClient('us-east-1', env), { code: 'ERR_CONFIG', message: new RegExp(message) });
    }
    t.throws(() => createStsClient('moon-base-1x', {}), {
      code: 'ERR_CONFIG',
      message: /is not an AWS region/,
    });
  },
);

t.test(
  'credentials already expired by this clock: recorded as a failure and retried, never stuck starting',
  async (t) => {
    const { time, sts, sessions } = setup({}, [{ expiresInMs: -MIN }, {}]);
    await t.rejects(sessions.start(), { code: 'ERR_STS_FAILED' });
    const s = sessions.status();
    t.equal(s.state, 'not-ready', 'not "starting" forever');
    t.match(s.lastError?.message, /already expired by this clock/);
    t.equal(sts.inputs.length, 1, 'no tight retry loop');
    await time.advance(DEFAULT_RETRY.cooldownMs + 1);
    t.equal(sessions.status().state, 'ready', 'the background retry after the cooldown recovers');
  },
);

t.test('a session that looks short-lived to a skewed clock does not loop AssumeRole', async (t) => {
  const { time, sts, sessions } = setup({}, [
    { expiresInMs: 2 * MIN },
    { expiresInMs: 2 * MIN },
    { expiresInMs: 2 * MIN },
  ]);
  await sessions.start();
  await time.advance(29_000);
  t.equal(sts.inputs.length, 1, 'no refresh sooner than the floor');
  await time.advance(2_000);
  t.equal(sts.inputs.length, 2, 'then one refresh');
});

t.test('a session past its expiry is not ready, even before its timer fires', async (t) => {
  const { time, sessions } = setup({}, [{ expiresInMs: 15 * MIN }, 'hang']);
  await sessions.start();
  time.now += 16 * MIN; // the clock moved without the timers running
  t.equal(sessions.status().ready, false);
});

t.test(
  'liveSessionFor: the live session without a Promise, or undefined when one must be minted',
  async (t) => {
    const { time, sts, sessions } = setup({ deadlineMs: T0 + 20 * MIN });
    t.equal(sessions.liveSessionFor(['read-report']), undefined, 'before start: nothing live');
    await sessions.start();
    const s = await sessions.sessionFor(['read-report']);
    const live = sessions.liveSessionFor(['read-report', 'write-summary']);
    t.equal(live?.credentials, s.credentials, 'the same credentials sessionFor gives');
    t.equal(live?.keys, s.signingKeys, 'and the same signing keys');
    t.throws(() => sessions.liveSessionFor(['other']), {
      code: 'ERR_CREDENTIALS_SESSION',
      message: /names no AWS grant/,
    });
    t.throws(() => sessions.liveSessionFor([]), { code: 'ERR_CREDENTIALS_SESSION' });
    // The clock passes the session's expiry before its timer ran: never handed out.
    time.now = T0 + 15 * MIN;
    t.equal(sessions.liveSessionFor(['read-report']), undefined, 'at its expiry: not live');
    time.now = T0 + 20 * MIN;
    t.throws(() => sessions.liveSessionFor(['read-report']), { code: 'ERR_CREDENTIALS_EXPIRED' });
    t.same(sessions.secrets(), [], 'the deadline discarded it');
    t.equal(sts.inputs.length, 1, 'liveSessionFor never mints');
  },
);

t.test('liveSessionFor with isolation grant: spent, wiped, not yet minted', async (t) => {
  const { sts, sessions } = setup({ isolation: 'grant' });
  await sessions.start();
  t.equal(sessions.liveSessionFor(['read-report']), undefined, 'not minted yet: the caller waits');
  const a = await sessions.sessionFor(['read-report']);
  t.equal(sessions.liveSessionFor(['read-report'])?.credentials, a.credentials);
  t.equal(sessions.liveSessionFor(['write-summary']), undefined, 'another grant has its own session');
  t.throws(() => sessions.liveSessionFor(['read-report', 'write-summary']), {
    code: 'ERR_CREDENTIALS_SESSION',
    message: /one grant only/,
  });
  sessions.drop('grant:read-report');
  t.throws(() => sessions.liveSessionFor(['read-report']), {
    code: 'ERR_CREDENTIALS_SESSION',
    message: /this grant is spent/,
  });
  sessions.wipe();
  t.throws(() => sessions.liveSessionFor(['write-summary']), { code: 'ERR_CREDENTIALS_WIPED' });
  t.equal(sts.inputs.length, 1);
});

t.test('secrets() is built once per change of the sessions held, frozen', async (t) => {
  const { time, sessions } = setup();
  const none = sessions.secrets();
  t.same(none, []);
  await sessions.start();
  const one = sessions.secrets();
  t.not(one, none, 'a mint gives a new list');
  t.same(one, ['ASIA1', 'secret-1', 'token-1']);
  t.equal(sessions.secrets(), one, 'asked again without a change: the same list, no copy');
  t.ok(Object.isFrozen(one), 'callers cannot edit the shared list');
  await time.advance(10 * MIN);
  const two = sessions.secrets();
  t.same(two, ['ASIA2', 'secret-2', 'token-2', 'ASIA1', 'secret-1', 'token-1'], 'refresh: both');
  await time.advance(5 * MIN);
  t.same(sessions.secrets(), ['ASIA2', 'secret-2', 'token-2'], 'the retired one expired: gone');
  sessions.drop('task');
  t.same(sessions.secrets(), [], 'dropped: gone');
});
