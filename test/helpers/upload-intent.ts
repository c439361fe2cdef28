// The PutObject the body-path tests send through buildAwsUpstreamRequest, and the plain-http
// origin that makes Errand sign the chunks itself.
import type { ClassifiedAwsIntent } from '../../src/classify/types.ts';
import type { AwsOrigin } from '../../src/proxy/context.ts';
import type { NormalizedRequest } from '../../src/proxy/request.ts';

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

/** The agent's PutObject of `acme-uploads/out/data.bin` to Errand's AWS endpoint, with `headers`. */
export const putRequest = (headers: Record<string, string>): NormalizedRequest => ({
  id: 'req-1',
  listener: 'aws',
  method: 'PUT',
  scheme: 'http',
  host: '127.0.0.1',
  port: 4750,
  rawPath: '/acme-uploads/out/data.bin',
  rawQuery: '',
  query: [],
  headers: new Map(Object.entries(headers)),
});

/** A PutObject of `length` bytes the agent sends unsigned (Errand signs the chunks on plain http). */
export const unsignedPutRequest = (length: number): NormalizedRequest =>
  putRequest({ 'content-length': String(length), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' });
