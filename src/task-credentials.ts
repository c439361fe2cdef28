import type { Logger } from 'pino';
import {
  createStsClient,
  type SessionKey,
  type StsClientLike,
  StsSessions,
} from './credentials/sts-sessions.ts';
import { ErrandError } from './errors.ts';
import { compileSessionPolicies, sessionParameters } from './manifest/policy.ts';
import type { LoadedManifest } from './manifest/types.ts';
import type { SessionCredentials } from './sidecar.ts';

// The task's STS sessions as the sidecar uses them: the compiled session policy of each session,
// AssumeRole through Errand's own credential chain, readiness for /readyz, and a wipe on stop.

export function createTaskCredentials(opts: {
  loaded: LoadedManifest;
  logger?: Logger;
  now?: () => number;
  client?: StsClientLike;
}): SessionCredentials & { readonly sessions: StsSessions } {
  const m = opts.loaded.manifest;
  const policies = new Map(compileSessionPolicies(m).map((p) => [p.sessionKey as SessionKey, p]));
  const region = m.aws?.region ?? 'us-east-1';
  const sessions = new StsSessions({
    isolation: m.aws?.isolation ?? 'task',
    deadlineMs: opts.loaded.expiresAtMs,
    grantIds: (m.aws?.grants ?? []).map((g) => g.id),
    parametersFor: (key) => {
      const policy = policies.get(key);
      if (!policy) throw new ErrandError('ERR_CONFIG', `no session policy for ${key}`);
      const p = sessionParameters(opts.loaded, policy);
      if (!p.ok) throw new ErrandError('ERR_CONFIG', p.problems.map((x) => x.message).join('; '));
      return p.parameters;
    },
    client: opts.client ?? createStsClient(region),
    ...(opts.now ? { now: opts.now } : {}),
  });
  const hasAws = policies.size > 0;
  return {
    sessions,
    async start() {
      if (!hasAws) return;
      try {
        await sessions.start();
        const s = sessions.status();
        opts.logger?.info(
          { sessions: s.sessions.map((x) => x.key), expiresAt: s.expiresAt },
          'STS session ready',
        );
      } catch (error) {
        // Not ready: /readyz says why; requests retry the mint after the cooldown.
        opts.logger?.error(
          { code: (error as ErrandError).code, detail: (error as ErrandError).message },
          'STS session could not be minted',
        );
      }
    },
    problem() {
      if (!hasAws || sessions.isReady()) return undefined;
      const s = sessions.status();
      return s.lastError ? `${s.state}: ${s.lastError.code}: ${s.lastError.message}` : s.state;
    },
    wipe: () => sessions.wipe(),
    sessionExpiries: () => sessions.status().sessions,
    release(spent) {
      if (m.aws?.isolation !== 'grant') return;
      for (const id of spent) sessions.drop(`grant:${id}`);
    },
    credentialsFor: (grantIds) => sessions.credentialsFor(grantIds),
    signingKeysFor: async (grantIds) => (await sessions.sessionFor(grantIds)).signingKeys,
    liveSessionFor: (grantIds) => sessions.liveSessionFor(grantIds),
    secrets: () => sessions.secrets(),
  };
}
