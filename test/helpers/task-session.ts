import { createHash } from 'node:crypto';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { compileSessionPolicies, sessionParameters } from '../../src/manifest/policy.ts';
import type { Manifest } from '../../src/manifest/types.ts';
import type { SessionCredentials } from '../../src/sidecar.ts';
import type { Moto } from './moto.ts';

/** Mints the task's real STS session against the emulator (AssumeRole with the compiled session
 *  policy, as Errand does) and serves it as a sidecar credential provider. */
export async function mintTaskSession(
  moto: Moto,
  manifest: Manifest,
): Promise<
  SessionCredentials & { creds: { accessKeyId: string; secretAccessKey: string; sessionToken: string } }
> {
  const [policy] = compileSessionPolicies(manifest);
  if (!policy) throw new Error('the manifest has no AWS grants');
  const loaded = {
    manifest,
    sha256: createHash('sha256').update(JSON.stringify(manifest)).digest('hex'),
    expiresAtMs: Date.parse(manifest.task.expiresAt),
    signed: true,
  };
  const params = sessionParameters(loaded, policy);
  if (!params.ok) throw new Error(params.problems.map((p) => p.message).join('; '));
  const sts = new STSClient({
    region: moto.region,
    endpoint: moto.endpoint,
    credentials: { ...moto.sourceCredentials },
  });
  const out = await sts.send(
    new AssumeRoleCommand({
      RoleArn: moto.roleArn,
      RoleSessionName: params.parameters.RoleSessionName,
      DurationSeconds: params.parameters.DurationSeconds,
      Policy: params.parameters.Policy,
      SourceIdentity: params.parameters.SourceIdentity,
      Tags: [...params.parameters.Tags],
    }),
  );
  sts.destroy();
  const c = out.Credentials!;
  const creds = {
    accessKeyId: c.AccessKeyId!,
    secretAccessKey: c.SecretAccessKey!,
    sessionToken: c.SessionToken!,
  };
  let wiped = false;
  return {
    creds,
    start: async () => undefined,
    problem: () => (wiped ? 'credentials dropped' : undefined),
    wipe: () => {
      wiped = true;
    },
    credentialsFor: async () => {
      if (wiped) throw new Error('dropped');
      return creds;
    },
    secrets: () => [creds.accessKeyId, creds.secretAccessKey, creds.sessionToken],
  };
}
