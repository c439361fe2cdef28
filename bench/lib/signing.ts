import { SigningKeyCache, signAwsRequest } from '../../src/credentials/sign-aws.ts';

// Microbenchmark of Errand's SigV4 step for the small GET, in the runner (core 0, nothing else
// running): the same call the endpoint makes per request, with the session's signing-key cache (what
// the endpoint does) and with a key derived per request (what it did before, for comparison).

const CREDENTIALS = Object.freeze({
  accessKeyId: 'ASIABENCHERRAND00001',
  secretAccessKey: 'benchSecretAccessKey/0123456789abcdefghijklmno',
  sessionToken: 'benchSessionToken0123456789abcdefghijklmnopqrstuvwxyz',
});

const input = (now: Date, signingKeys?: SigningKeyCache) => ({
  method: 'GET',
  protocol: 'https:' as const,
  hostname: 's3.us-east-1.amazonaws.com',
  path: '/bench-bucket/small.txt',
  query: [] as const,
  headers: {},
  service: 's3',
  region: 'us-east-1',
  payloadHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  credentials: CREDENTIALS,
  now,
  ...(signingKeys ? { signingKeys } : {}),
});

/** Mean microseconds per signAwsRequest call over `calls` calls. */
export function measureSigning(calls: number, cached: boolean): number {
  const keys = cached ? new SigningKeyCache(CREDENTIALS) : undefined;
  const now = new Date('2026-11-29T12:00:00Z');
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) sink += signAwsRequest(input(now, keys)).signature.length;
  const us = ((performance.now() - t0) * 1000) / calls;
  if (sink !== calls * 64) throw new Error('signing produced an unexpected signature');
  return us;
}
