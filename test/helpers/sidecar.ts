import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../../src/manifest/types.ts';
import { type SessionCredentials, type Sidecar, startSidecar } from '../../src/sidecar.ts';

/** Fixed, recognisable test credentials: the canary scans look for these strings. */
export const TEST_CREDENTIALS = {
  accessKeyId: 'ASIATESTERRANDCANARY1',
  secretAccessKey: 'errandCanarySecretKey/0123456789abcdefABCDEF',
  sessionToken: 'errandCanarySessionToken0123456789abcdefghijklmnopqrstuvwxyz',
};

export const staticCredentials = (creds = TEST_CREDENTIALS): SessionCredentials & { wiped: boolean } => {
  const state = { wiped: false };
  return {
    get wiped() {
      return state.wiped;
    },
    start: async () => undefined,
    problem: () => (state.wiped ? 'credentials dropped' : undefined),
    wipe: () => {
      state.wiped = true;
    },
    credentialsFor: async () => {
      if (state.wiped) throw new Error('credentials dropped');
      return creds;
    },
    secrets: () => [creds.accessKeyId, creds.secretAccessKey, creds.sessionToken],
  };
};

export interface TestSidecar {
  readonly sidecar: Sidecar;
  readonly port: number;
  readonly endpoint: string;
  readonly dir: string;
  auditRecords(): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

/** Starts Errand in-process on a free loopback port with a manifest value, sending AWS calls to
 *  `upstreamUrl` (a recording upstream or the emulator). */
export async function startTestSidecar(opts: {
  manifest: Manifest;
  upstreamUrl: string;
  credentials?: SessionCredentials;
  now?: () => number;
  stateDir?: string;
  ops?: boolean;
}): Promise<TestSidecar> {
  const dir = opts.stateDir ?? (await mkdtemp(join(tmpdir(), 'errand-sidecar-')));
  const credentials = opts.credentials ?? staticCredentials();
  const text = JSON.stringify(opts.manifest);
  const auditFile = join(dir, 'audit.jsonl');
  const sidecar = await startSidecar({
    loaded: Object.freeze({
      manifest: opts.manifest,
      sha256: createHash('sha256').update(text).digest('hex'),
      expiresAtMs: Date.parse(opts.manifest.task.expiresAt),
      signed: true,
    }),
    unsigned: false,
    credentials,
    listen: { host: '127.0.0.1', port: 0 },
    ...(opts.ops ? { opsListen: { host: '127.0.0.1', port: 0 } } : {}),
    stateDir: dir,
    auditFile,
    env: { AWS_ENDPOINT_URL: opts.upstreamUrl },
    ...(opts.now ? { now: opts.now } : {}),
  });
  return {
    sidecar,
    port: sidecar.awsPort,
    endpoint: `http://127.0.0.1:${sidecar.awsPort}`,
    dir,
    async auditRecords() {
      const t = await readFile(auditFile, 'utf8');
      return t
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    async stop() {
      // Canary (SECURITY-CASES L2): no secret this sidecar held may appear in its audit file.
      const secrets = [...Object.values(TEST_CREDENTIALS), ...credentials.secrets()];
      await sidecar.stop();
      const audit = await readFile(auditFile, 'utf8').catch(() => '');
      if (!opts.stateDir) await rm(dir, { recursive: true, force: true });
      const leaked = secrets.filter((secret) => secret.length >= 8 && audit.includes(secret)).length;
      if (leaked > 0)
        throw new Error(
          `CANARY: ${leaked} secret value(s) Errand held appear in its audit file ${auditFile}`,
        );
    },
  };
}

/** An expiresAt some minutes from now (the loader refuses > 12 h and the past). */
export const inMinutes = (minutes: number): string =>
  new Date(Date.now() + minutes * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
