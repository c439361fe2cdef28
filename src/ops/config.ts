import type { AuditSync } from '../audit/audit-log.ts';
import { ErrandError } from '../errors.ts';

// `errand run` configuration from flags, then ERRAND_* environment variables, then defaults.
// Unknown flags are refused; the result is frozen. Unsafe switches are named unsafe.

export interface RunConfig {
  readonly manifest: string;
  readonly trustKey: string | undefined;
  readonly audience: string;
  readonly unsafeAllowUnsignedManifest: boolean;
  readonly listen: HostPort;
  readonly proxyListen: HostPort | undefined;
  /** Connections redirected by iptables/nftables from the agent's UID; needs proxyListen. */
  readonly transparentListen: HostPort | undefined;
  readonly opsListen: HostPort;
  readonly stateDir: string;
  readonly auditFile: string;
  /** `batch` (default): an allowed request waits for its audit record to reach the kernel, the disk
   *  sync runs in the background; `each`: it waits for fdatasync (docs/decisions/0003). */
  readonly auditSync: AuditSync;
  /** Every audit line also on stdout, for container log collection (default on). */
  readonly auditEcho: boolean;
  readonly secretsDir: string | undefined;
  readonly caDir: string | undefined;
  readonly upstreamCaFile: string | undefined;
  readonly logLevel: string;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

interface FlagSpec {
  readonly env: string;
  readonly boolean?: boolean;
  readonly default?: string;
}

const FLAGS: Readonly<Record<string, FlagSpec>> = {
  manifest: { env: 'ERRAND_MANIFEST' },
  'trust-key': { env: 'ERRAND_TRUST_KEY' },
  audience: { env: 'ERRAND_AUDIENCE', default: 'errand' },
  'unsafe-allow-unsigned-manifest': { env: 'ERRAND_UNSAFE_ALLOW_UNSIGNED_MANIFEST', boolean: true },
  listen: { env: 'ERRAND_LISTEN', default: '127.0.0.1:4750' },
  'proxy-listen': { env: 'ERRAND_PROXY_LISTEN' },
  'transparent-listen': { env: 'ERRAND_TRANSPARENT_LISTEN' },
  'ops-listen': { env: 'ERRAND_OPS_LISTEN', default: '0.0.0.0:4752' },
  'state-dir': { env: 'ERRAND_STATE_DIR', default: '/var/run/errand' },
  'audit-file': { env: 'ERRAND_AUDIT_FILE' },
  'audit-sync': { env: 'ERRAND_AUDIT_SYNC', default: 'batch' },
  'audit-echo': { env: 'ERRAND_AUDIT_ECHO', default: 'on' },
  'secrets-dir': { env: 'ERRAND_SECRETS_DIR' },
  'ca-dir': { env: 'ERRAND_CA_DIR' },
  'upstream-ca-file': { env: 'ERRAND_UPSTREAM_CA_FILE' },
  'log-level': { env: 'ERRAND_LOG_LEVEL', default: 'info' },
};

export function parseHostPort(flag: string, value: string): HostPort {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(value);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new ErrandError('ERR_USAGE', `--${flag} wants host:port, got ${value}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export function parseRunConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): RunConfig {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const spec = m ? FLAGS[m[1]!] : undefined;
    if (!m || !spec) throw new ErrandError('ERR_USAGE', `unknown option ${arg}`);
    if (spec.boolean) {
      if (m[2] !== undefined) throw new ErrandError('ERR_USAGE', `--${m[1]} takes no value`);
      values.set(m[1]!, 'true');
    } else {
      const value = m[2] ?? argv[++i];
      if (value === undefined || value === '') throw new ErrandError('ERR_USAGE', `--${m[1]} needs a value`);
      values.set(m[1]!, value);
    }
  }
  const get = (name: string): string | undefined => {
    const spec = FLAGS[name]!;
    const fromEnv = env[spec.env];
    return values.get(name) ?? (fromEnv === '' ? undefined : fromEnv) ?? spec.default;
  };
  const flag = (name: string): boolean => {
    const v = get(name);
    return v === 'true' || v === '1';
  };

  // I2: an environment that disables upstream TLS verification is refused outright.
  if (env['NODE_TLS_REJECT_UNAUTHORIZED'] === '0') {
    throw new ErrandError(
      'ERR_CONFIG',
      'NODE_TLS_REJECT_UNAUTHORIZED=0 is set; Errand never sends credentials over unverified TLS',
    );
  }
  const manifest = get('manifest');
  if (manifest === undefined)
    throw new ErrandError('ERR_USAGE', '--manifest <file> is required (or ERRAND_MANIFEST)');
  const trustKey = get('trust-key');
  const unsafe = flag('unsafe-allow-unsigned-manifest');
  if (trustKey === undefined && !unsafe) {
    throw new ErrandError(
      'ERR_USAGE',
      '--trust-key <file> is required to verify the signed manifest; for local development only, --unsafe-allow-unsigned-manifest runs an unsigned one',
    );
  }
  const stateDir = get('state-dir')!;
  const proxy = get('proxy-listen');
  const transparent = get('transparent-listen');
  if (transparent !== undefined && proxy === undefined) {
    throw new ErrandError(
      'ERR_USAGE',
      '--transparent-listen needs --proxy-listen: redirected connections follow the forward proxy rules',
    );
  }
  const auditSync = get('audit-sync')!;
  if (auditSync !== 'batch' && auditSync !== 'each')
    throw new ErrandError('ERR_USAGE', `--audit-sync wants batch or each, got ${auditSync}`);
  const auditEcho = get('audit-echo')!;
  if (auditEcho !== 'on' && auditEcho !== 'off')
    throw new ErrandError('ERR_USAGE', `--audit-echo wants on or off, got ${auditEcho}`);
  return Object.freeze({
    manifest,
    trustKey,
    audience: get('audience')!,
    unsafeAllowUnsignedManifest: unsafe,
    listen: parseHostPort('listen', get('listen')!),
    proxyListen: proxy === undefined ? undefined : parseHostPort('proxy-listen', proxy),
    transparentListen:
      transparent === undefined ? undefined : parseHostPort('transparent-listen', transparent),
    opsListen: parseHostPort('ops-listen', get('ops-listen')!),
    stateDir,
    auditFile: get('audit-file') ?? `${stateDir}/audit.jsonl`,
    auditSync,
    auditEcho: auditEcho === 'on',
    secretsDir: get('secrets-dir'),
    caDir: get('ca-dir'),
    upstreamCaFile: get('upstream-ca-file'),
    logLevel: get('log-level')!,
  });
}
