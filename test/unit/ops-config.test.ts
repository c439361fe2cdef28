import t from 'tap';
import { parseHostPort, parseRunConfig } from '../../src/ops/config.ts';

const base = ['--manifest', 'task.jws', '--trust-key', 'pub.pem'];

t.test('defaults, flags over environment, environment over defaults', async (t) => {
  const c = parseRunConfig(base, {});
  t.same(
    [c.listen, c.opsListen, c.proxyListen, c.transparentListen, c.audience, c.stateDir, c.auditFile],
    [
      { host: '127.0.0.1', port: 4750 },
      { host: '0.0.0.0', port: 4752 },
      undefined,
      undefined,
      'errand',
      '/var/run/errand',
      '/var/run/errand/audit.jsonl',
    ],
  );
  t.ok(Object.isFrozen(c));
  const env = parseRunConfig([...base, '--listen=127.0.0.1:5000'], {
    ERRAND_LISTEN: '127.0.0.1:6000',
    ERRAND_AUDIENCE: 'errand://ns/pod',
    ERRAND_STATE_DIR: '',
  });
  t.same(
    [env.listen.port, env.audience, env.stateDir],
    [5000, 'errand://ns/pod', '/var/run/errand'],
    'flag wins; empty env is unset',
  );
  const proxied = parseRunConfig([...base, '--proxy-listen', '127.0.0.1:4751'], {
    ERRAND_TRANSPARENT_LISTEN: '127.0.0.1:4753',
  });
  t.same(proxied.transparentListen, { host: '127.0.0.1', port: 4753 });
  t.same(parseHostPort('listen', '[::1]:4750'), { host: '::1', port: 4750 });
});

t.test('audit durability and echo: batch and on by default, each and off on request', async (t) => {
  const d = parseRunConfig(base, {});
  t.same([d.auditSync, d.auditEcho], ['batch', true]);
  const flags = parseRunConfig([...base, '--audit-sync', 'each', '--audit-echo=off'], {});
  t.same([flags.auditSync, flags.auditEcho], ['each', false]);
  const env = parseRunConfig(base, { ERRAND_AUDIT_SYNC: 'each', ERRAND_AUDIT_ECHO: 'off' });
  t.same([env.auditSync, env.auditEcho], ['each', false]);
});

t.test('every mistake is a usage error naming the fix', async (t) => {
  const rows: [string[], Record<string, string>, RegExp][] = [
    [['--manifest', 'm'], {}, /--trust-key <file> is required .* --unsafe-allow-unsigned-manifest/],
    [[], {}, /--manifest <file> is required/],
    [[...base, '--bogus'], {}, /unknown option --bogus/],
    [[...base, 'extra'], {}, /unknown option extra/],
    [[...base, '--listen'], {}, /--listen needs a value/],
    [[...base, '--listen', '127.0.0.1:99999'], {}, /--listen wants host:port, got 127.0.0.1:99999/],
    [[...base, '--unsafe-allow-unsigned-manifest=yes'], {}, /takes no value/],
    [base, { ERRAND_TRANSPARENT_LISTEN: '127.0.0.1:4753' }, /--transparent-listen needs --proxy-listen/],
    [base, { NODE_TLS_REJECT_UNAUTHORIZED: '0' }, /NODE_TLS_REJECT_UNAUTHORIZED=0 is set/],
    [[...base, '--audit-sync', 'never'], {}, /--audit-sync wants batch or each, got never$/],
    [base, { ERRAND_AUDIT_ECHO: 'false' }, /--audit-echo wants on or off, got false$/],
  ];
  for (const [argv, env, message] of rows)
    t.throws(() => parseRunConfig(argv, env), { message }, argv.join(' '));
  t.equal(
    parseRunConfig(['--manifest', 'm', '--unsafe-allow-unsigned-manifest'], {}).unsafeAllowUnsignedManifest,
    true,
  );
  t.equal(
    parseRunConfig(['--manifest', 'm'], { ERRAND_UNSAFE_ALLOW_UNSIGNED_MANIFEST: '1' })
      .unsafeAllowUnsignedManifest,
    true,
  );
});
