// The PutObject the body-path tests send through buildAwsUpstreamRequest, and the plain-http
// origin that makes Errand sign the chunks itself.
import type { ClassifiedAwsIntent } from '../../src/classify/types.ts';
import type { AwsOrigin } from '../../src/proxy/context.ts';

export const PLAIN_HTTP_ORIGIN: AwsOrigin = { scheme: 'http', host: '127.0.0.1', port: 9000, basePath: '' };

export const PUT_INTENT = {
  kind: 'aws',
  service: 's3',
  region: 'us-east-1',
  operation: 'PutObject',
  needs: [{ action: 's3:PutObject', resource: 'arn:aws:s3:::acme-uploads/out/data.bin' }],
  s3: { bucket: 'acme-uploads', rawKey: 'out/data.bin' },
  endpointPrefix: 's3',
  forwardHeaders: [],
  sensitiveHeaders: [],
  awsChunked: false,
} satisfies ClassifiedAwsIntent;
