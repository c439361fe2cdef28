import { readFile } from 'node:fs/promises';
import { formatProblems, loadManifestFile } from '../manifest/load.ts';
import { checkPolicySizes } from '../manifest/policy.ts';
import { parseRunConfig } from '../ops/config.ts';
import { createLogger } from '../ops/log.ts';
import { stopPretenuring } from '../ops/v8-serving.ts';
import { startSidecar } from '../sidecar.ts';
import { createTaskCredentials } from '../task-credentials.ts';
import type { CliIo, Command } from './io.ts';

// `errand run`: verify the manifest, mint the task's STS session, listen, and on SIGTERM/SIGINT drain,
// drop the credentials, flush the audit log and exit 0. Node is PID 1 in the image, so the handlers
// here are what makes `kubectl delete pod` end the sidecar promptly.

/** Where the audit echo goes: stdout as bytes when the io takes them, else as UTF-8 text. */
const echoBytesOf = (io: CliIo): ((bytes: Uint8Array) => void) =>
  io.stdoutBytes ?? ((bytes) => io.stdout(Buffer.from(bytes).toString('utf8')));

export const runCommand: Command = async (argv, io) => {
  const config = parseRunConfig(argv, io.env);
  const logger = createLogger(config.logLevel);
  const now = Date.now;

  // 1. The manifest: verified JWS, or an unsigned file only with the unsafe switch.
  const result = await loadManifestFile(config.manifest, {
    now: now(),
    ...(config.trustKey ? { trustKey: config.trustKey, audience: config.audience } : {}),
  });
  if (!result.ok) {
    io.stderr(formatProblems(config.manifest, result.problems));
    logger.error({ manifest: config.manifest, problems: result.problems.length }, 'the manifest was refused');
    return 2;
  }
  const loaded = result.loaded;
  if (!loaded.signed && !config.unsafeAllowUnsignedManifest) {
    io.stderr(
      `errand: ${config.manifest} is not signed; pass --trust-key with a signed manifest (or, for local development only, --unsafe-allow-unsigned-manifest)\n`,
    );
    return 2;
  }
  if (!loaded.signed) {
    logger.warn(
      'UNSAFE: running an unsigned manifest (--unsafe-allow-unsigned-manifest); every audit record says so',
    );
  }
  const tooLarge = checkPolicySizes(loaded.manifest);
  if (tooLarge.length > 0) {
    for (const p of tooLarge) io.stderr(`errand: ${p.message}\n`);
    return 2;
  }

  // 2. The sidecar: credentials are minted in start(); /readyz stays 503 until they exist.
  const credentials = createTaskCredentials({ loaded, logger, now });
  const upstreamCa = config.upstreamCaFile ? await readFile(config.upstreamCaFile, 'utf8') : undefined;
  const sidecar = await startSidecar({
    loaded,
    unsigned: !loaded.signed,
    credentials,
    listen: config.listen,
    opsListen: config.opsListen,
    stateDir: config.stateDir,
    auditFile: config.auditFile,
    env: io.env,
    now,
    logger,
    ...(config.auditEcho ? { echoAuditBytes: echoBytesOf(io) } : {}),
    auditSync: config.auditSync,
    ...(upstreamCa ? { upstreamCa } : {}),
    // The forward proxy runs when --proxy-listen is given (conventionally 127.0.0.1:4751).
    ...(config.proxyListen ? { proxyListen: config.proxyListen } : {}),
    ...(config.transparentListen ? { transparentListen: config.transparentListen } : {}),
    ...(config.caDir ? { caDir: config.caDir } : {}),
    ...(config.secretsDir ? { secretsDir: config.secretsDir } : {}),
  });

  // Serving from here: objects allocated now belong to requests and die young.
  stopPretenuring();

  // 3. Until a signal: drain, wipe, flush, exit 0.
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping: draining in-flight requests');
      sidecar.stop().finally(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  logger.info('stopped');
  return 0;
};
