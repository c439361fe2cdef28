import type { AwsGrant, HttpGrant, Manifest } from '../../src/manifest/types.ts';

// Loaded-form manifests for unit tests of pure logic (the loader has its own tests).
export const awsGrant = (over: Partial<AwsGrant> & Pick<AwsGrant, 'id' | 'action'>): AwsGrant => ({
  resources: [],
  broad: false,
  uses: 1,
  conditions: {},
  allowHeaders: [],
  ...over,
});

export const httpGrant = (
  over: Partial<HttpGrant> & Pick<HttpGrant, 'id' | 'method' | 'url'>,
): HttpGrant => ({
  pattern: false,
  uses: 1,
  websocket: false,
  unsafeAllowPlainHttp: false,
  unsafeAllowPrivateAddress: false,
  ...over,
});

export const manifestWith = (
  aws: AwsGrant[],
  http: HttpGrant[] = [],
  expiresAt = '2026-11-29T20:05:00Z',
): Manifest => ({
  apiVersion: 'errand.dev/v1',
  kind: 'TaskManifest',
  task: {
    id: 'tsk_test',
    purpose: 'test',
    user: { subject: 'alice@example.com', session: 'sess_1' },
    expiresAt,
  },
  aws: {
    region: 'us-east-1',
    roleArn: 'arn:aws:iam::123456789012:role/errand-task',
    isolation: 'task',
    grants: aws,
  },
  http: { grants: http, passthrough: [] },
});
