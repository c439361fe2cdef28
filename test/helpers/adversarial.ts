import type { Test } from 'tap';
import type { Manifest } from '../../src/manifest/types.ts';
import { awsGrant, manifestWith } from './manifests.ts';
import { rawExchange } from './raw-http.ts';
import { type RecordingUpstream, startRecordingUpstream } from './recording-upstream.ts';
import { inMinutes, startTestSidecar, type TestSidecar } from './sidecar.ts';

export const BUCKET = 'acme-uploads';
export const REPORT_KEY = 'users/alice/report.pdf';
export const REPORT_ARN = `arn:aws:s3:::${BUCKET}/${REPORT_KEY}`;
export const OUT_KEY = 'out/summary.txt';
export const OUT_ARN = `arn:aws:s3:::${BUCKET}/${OUT_KEY}`;

/** The seed task: read one object once, write one object once. */
export const seedManifest = (): Manifest =>
  manifestWith(
    [
      awsGrant({ id: 'read-report', action: 's3:GetObject', resources: [REPORT_ARN] }),
      awsGrant({ id: 'write-summary', action: 's3:PutObject', resources: [OUT_ARN] }),
    ],
    [],
    inMinutes(30),
  );

export interface Harness {
  readonly sc: TestSidecar;
  readonly upstream: RecordingUpstream;
  readonly port: number;
  /** A minimal, well-formed SigV4 Authorization header with placeholder keys, as an SDK would send. */
  readonly auth: string;
  raw(
    payload: Parameters<typeof rawExchange>[1],
    opts?: Parameters<typeof rawExchange>[2],
  ): ReturnType<typeof rawExchange>;
  /** The reason codes of the audit's decision records, in order. */
  reasons(): Promise<string[]>;
}

export const AGENT_AUTH =
  'AWS4-HMAC-SHA256 Credential=AKIAPLACEHOLDER0000/20261129/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000';

/** Starts a recording upstream and an Errand sidecar in front of it, torn down with the test. */
export async function harness(t: Test, manifest: Manifest = seedManifest()): Promise<Harness> {
  const upstream = await startRecordingUpstream();
  const sc = await startTestSidecar({ manifest, upstreamUrl: upstream.url });
  t.teardown(async () => {
    await sc.stop();
    await upstream.close();
  });
  return {
    sc,
    upstream,
    port: sc.port,
    auth: AGENT_AUTH,
    // Unless told otherwise, stop once as many responses as request lines sent have arrived.
    raw: (payload, opts) =>
      rawExchange(sc.port, payload, {
        ...(typeof payload === 'string'
          ? { expect: (payload.match(/^[A-Z]+ \S+ HTTP\/1\.1\r$/gm) ?? []).length || 1 }
          : {}),
        ...opts,
      }),
    async reasons() {
      // Give the asynchronous audit write of the last decision a moment to land.
      await new Promise((r) => setTimeout(r, 50));
      return (await sc.auditRecords())
        .filter((r) => r['event'] === 'egress_decision')
        .map((r) => String(r['reason']));
    },
  };
}

/** A request line + headers for the endpoint listener; `extra` lines are appended verbatim. */
export const s3Request = (
  h: Harness,
  method: string,
  path: string,
  extra: string[] = [],
  body = '',
): string =>
  [
    `${method} ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${h.port}`,
    `Authorization: ${h.auth}`,
    'x-amz-date: 20261129T000000Z',
    'x-amz-content-sha256: UNSIGNED-PAYLOAD',
    ...extra,
    '',
    body,
  ].join('\r\n');
