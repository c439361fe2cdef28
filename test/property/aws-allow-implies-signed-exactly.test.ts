// Property: for any request an agent can send to the AWS endpoint, if Errand allows it then the
// request it signs and sends names exactly the authorized operation on exactly the authorized
// resource. Generated requests go through the real front, classifier, authorizer, upstream-request
// builder and signer; for every allow the test checks, independently of how Errand built it:
//   1. signed is sent: the SigV4 signature recomputed from the bytes to be sent (method, path, query,
//      the headers named in SignedHeaders) is the one in the Authorization header;
//   2. the credential scope and Host are the manifest's (us-east-1, s3, the configured endpoint);
//   3. the path sent decodes (once) to the bucket and key of the resource ARN that was authorized;
//   4. that resource is covered by a grant of the decision, for the grant's action;
//   5. classifying the request as sent gives the same operation and the same needs.
// Keys are generated from the granted ones, traversal-looking variants (.., ., //, %2e, %2F), and
// arbitrary Unicode, each spelled with a random mix of raw and percent-encoded (upper/lower hex) bytes.

import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import t from 'tap';
import { arnMatches, authorizeAws, indexGrants } from '../../src/authorize/authorize.ts';
import { UseLedger } from '../../src/authorize/use-ledger.ts';
import { classifyAws } from '../../src/classify/aws.ts';
import { computeSignature, deriveSigningKey } from '../../src/credentials/sign-aws.ts';
import { IMPLIED_ACTIONS } from '../../src/manifest/policy.ts';
import type { AwsGrant, Manifest } from '../../src/manifest/types.ts';
import { buildAwsUpstreamRequest } from '../../src/proxy/aws-upstream-request.ts';
import { decodeOnce, normalizeRequest } from '../../src/proxy/front.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { TEST_CREDENTIALS } from '../helpers/sidecar.ts';

const BUCKET = 'acme-uploads';
const ENDPOINT = { scheme: 'https' as const, host: 's3.us-east-1.amazonaws.com', port: 443, basePath: '' };
const AUTHORITIES = new Set(['127.0.0.1:4750', 'localhost:4750']);
const CTX = { region: 'us-east-1', accountId: '123456789012', expectedAuthorities: AUTHORITIES };
const NOW = new Date('2026-11-29T20:00:00Z');

const GRANTED_KEYS = [
  'users/alice/report.pdf',
  'out/summary.txt',
  'odd/a b+c=d;e,f&g$@:!(x)*~.txt',
  'odd/ünïcødé/日本語 ✓.txt',
  'odd/../looks/like/traversal',
  'odd//double//slash/',
];
const manifest: Manifest = manifestWith(
  [
    awsGrant({
      id: 'read',
      action: 's3:GetObject',
      resources: GRANTED_KEYS.map((k) => `arn:aws:s3:::${BUCKET}/${k}`),
      uses: 'unlimited',
    }),
    awsGrant({
      id: 'write',
      action: 's3:PutObject',
      resources: [
        `arn:aws:s3:::${BUCKET}/out/summary.txt`,
        `arn:aws:s3:::${BUCKET}/odd/ünïcødé/日本語 ✓.txt`,
      ],
      allowHeaders: ['x-amz-server-side-encryption'],
      uses: 'unlimited',
    }),
    awsGrant({
      id: 'scratch',
      action: 's3:DeleteObject',
      resources: [`arn:aws:s3:::${BUCKET}/tmp/*`],
      broad: true,
      uses: 'unlimited',
    }),
    awsGrant({
      id: 'list',
      action: 's3:ListBucket',
      resources: [`arn:aws:s3:::${BUCKET}`],
      conditions: { s3Prefix: 'users/alice/' },
      uses: 'unlimited',
    }),
  ],
  [],
  '2026-11-29T21:00:00Z',
);
const index = indexGrants(manifest);

// ---- generators ----

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
// Visible ASCII a request-target may carry raw and that does not end the path: not '?', '#', '%'.
const RAW_OK = /^[\x21-\x7e]$/;

/** A decoded key spelled on the request line: each UTF-8 byte raw (when legal) or %XX / %xx. */
const spell = (decoded: string, choices: readonly number[]): string => {
  let out = '';
  let i = 0;
  for (const ch of decoded) {
    const pick = choices[i++ % choices.length] ?? 0;
    const bytes = Buffer.from(ch, 'utf8');
    const rawAllowed = bytes.length === 1 && RAW_OK.test(ch) && !'?#%'.includes(ch);
    if (rawAllowed && (pick < 2 || UNRESERVED.test(ch) || ch === '/')) {
      // '/' and unreserved mostly raw; sometimes encoded below.
      if (pick !== 3) {
        out += ch;
        continue;
      }
    }
    for (const b of bytes) {
      const hex = b.toString(16).padStart(2, '0');
      out += `%${pick % 2 === 0 ? hex.toUpperCase() : hex}`;
    }
  }
  return out;
};

const segment = fc.oneof(
  fc.constantFrom('.', '..', '', '%2e', 'alice', 'report.pdf', ' ', '+', 'tmp', 'users'),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
);
const keyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...GRANTED_KEYS) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...GRANTED_KEYS),
        fc.nat(),
        fc.constantFrom('/', '/./', '//', '/../', '../', ' ', '%'),
      )
      .map(([k, at, s]) => `${k.slice(0, at % (k.length + 1))}${s}${k.slice(at % (k.length + 1))}`),
  },
  {
    weight: 2,
    arbitrary: fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `tmp/${s.join('/')}`),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => s.join('/')) },
);
const QUERY_KEYS = [
  'versionId',
  'uploadId',
  'partNumber',
  'acl',
  'tagging',
  'list-type',
  'prefix',
  'delimiter',
  'x-id',
  'response-content-type',
  'select',
  'select-type',
  'attributes',
  'retention',
  'legal-hold',
  'torrent',
  'restore',
  'uploads',
];
const anyQueryArb = fc.array(
  fc.tuple(
    fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.string({ maxLength: 6 })),
    fc.oneof(fc.constantFrom('', '2', 'users/alice/', 'GetObject', '1'), fc.string({ maxLength: 6 })),
  ),
  { maxLength: 3 },
);
const anyHeaderArb = fc.dictionary(
  fc.constantFrom(
    'x-amz-acl',
    'x-amz-server-side-encryption',
    'x-amz-copy-source',
    'x-amz-storage-class',
    'x-amz-tagging',
    'x-amz-meta-note',
    'content-type',
    'range',
    'if-match',
    'x-amz-checksum-crc32',
    'x-amz-grant-read',
    'x-amz-request-payer',
  ),
  fc.oneof(
    fc.constantFrom(
      'AES256',
      'public-read',
      `${BUCKET}/users/alice/report.pdf`,
      `/${BUCKET}/out/summary.txt`,
    ),
    fc.string({ unit: fc.constantFrom(...'abc/=+- 09'.split('')), maxLength: 12 }),
  ),
  { maxKeys: 3 },
);
// Mostly clean requests (so allows are common), often with extra query keys and headers.
const queryArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant([] as [string, string][]) },
  { weight: 2, arbitrary: anyQueryArb },
);
const headerArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant({} as Record<string, string>) },
  { weight: 1, arbitrary: anyHeaderArb },
);
const requestArb = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'PUT', 'DELETE', 'POST', 'GET', 'GET', 'PUT'),
  bucketInHost: fc.boolean(),
  key: keyArb,
  keyless: fc.boolean(),
  spelling: fc.array(fc.nat(3), { minLength: 1, maxLength: 16 }),
  query: queryArb,
  headers: headerArb,
});

const AGENT_AUTH =
  'AWS4-HMAC-SHA256 Credential=AKIAPLACEHOLDER0000/20261129/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000';

const encodeQueryPart = (s: string) => encodeURIComponent(s);

/** What the front makes of a request line and headers (a real IncomingMessage has these fields). */
const front = (method: string, target: string, headers: Record<string, string>) =>
  normalizeRequest(
    {
      httpVersion: '1.1',
      method,
      url: target,
      rawHeaders: Object.entries(headers).flat(),
    } as unknown as IncomingMessage,
    {
      id: 'r-prop',
      listener: 'aws',
      expectedAuthorities: AUTHORITIES,
      origin: { scheme: 'http', host: '127.0.0.1', port: 0 },
    },
  );

const needsOf = (needs: readonly { action: string; resource: string; s3Prefix?: string }[]) =>
  needs.map((n) => `${n.action} ${n.resource}${n.s3Prefix === undefined ? '' : ` prefix=${n.s3Prefix}`}`);

t.test(
  "allow implies: signed is sent, scope and host are the manifest's, the path is the authorized ARN",
  async (t) => {
    const stats = { requests: 0, parsed: 0, classified: 0, allowed: 0, signed: 0 };
    const operations = new Set<string>();
    fc.assert(
      fc.property(requestArb, (r) => {
        stats.requests++;
        const path = r.keyless ? '' : spell(r.key, r.spelling);
        const target =
          (r.bucketInHost ? `/${path}` : `/${BUCKET}${r.keyless ? '' : `/${path}`}`) +
          (r.query.length > 0
            ? `?${r.query.map(([k, v]) => `${encodeQueryPart(k)}=${encodeQueryPart(v)}`).join('&')}`
            : '');
        const headers: Record<string, string> = {
          host: r.bucketInHost ? `${BUCKET}.localhost:4750` : '127.0.0.1:4750',
          authorization: AGENT_AUTH,
          'x-amz-date': '20261129T200000Z',
          'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
          ...(r.method === 'PUT' ? { 'content-length': '5' } : {}),
          ...r.headers,
        };
        const parsed = front(r.method, target, headers);
        if (!parsed.ok) return;
        stats.parsed++;
        const classified = classifyAws(parsed.request, CTX, undefined);
        if (!classified.ok) return;
        stats.classified++;
        const intent = classified.intent;
        const decision = authorizeAws(
          { intent, sensitiveHeaders: intent.sensitiveHeaders, uploads: new Map() },
          index,
          UseLedger.inMemory(manifest.aws!.grants),
          NOW.getTime(),
          Date.parse(manifest.task.expiresAt),
        );
        if (!decision.allow) return;
        stats.allowed++;
        operations.add(intent.operation);

        let sent: ReturnType<typeof buildAwsUpstreamRequest>;
        try {
          sent = buildAwsUpstreamRequest({
            request: parsed.request,
            intent,
            origin: ENDPOINT,
            credentials: TEST_CREDENTIALS,
            body: Readable.from([]),
            bodyBuffered: false,
            now: NOW,
          });
        } catch (error) {
          // Refusing to sign what cannot be signed byte for byte is allowed; sending something else is not.
          if ((error as { code?: string }).code?.startsWith('ERR_')) return;
          throw error;
        }
        stats.signed++;

        // 2. Scope and host.
        const auth = sent.headers['authorization']!;
        const m =
          /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
            auth,
          );
        if (!m) throw new Error(`unexpected Authorization: ${auth}`);
        const [, akid, , region, service, signedHeaders, signature] = m;
        if (akid !== TEST_CREDENTIALS.accessKeyId || region !== 'us-east-1' || service !== 's3')
          throw new Error(`scope is not the manifest's: ${auth}`);
        if (
          sent.origin !== 'https://s3.us-east-1.amazonaws.com:443' ||
          sent.headers['host'] !== ENDPOINT.host
        )
          throw new Error(`sent to ${sent.origin} host ${sent.headers['host']}`);
        if (sent.method !== r.method) throw new Error(`method ${sent.method} for ${r.method}`);

        // 1. Signed is sent: recompute the signature from what will go on the wire.
        const q = sent.path.indexOf('?');
        const sentPath = q === -1 ? sent.path : sent.path.slice(0, q);
        const sentQuery = (q === -1 ? '' : sent.path.slice(q + 1))
          .split('&')
          .filter((p) => p !== '')
          .map((p) => {
            const [k = '', v = ''] = p.split('=');
            return [decodeOnce(k)!, decodeOnce(v)!] as const;
          });
        const names = signedHeaders!.split(';');
        for (const name of Object.keys(sent.headers))
          if (name !== 'authorization' && name !== 'content-length' && !names.includes(name))
            throw new Error(`header ${name} is sent but not signed`);
        const recomputed = computeSignature({
          method: sent.method,
          path: sentPath,
          query: sentQuery,
          headers: Object.fromEntries(names.map((n) => [n, sent.headers[n]!])),
          service: 's3',
          region: 'us-east-1',
          payloadHash: sent.headers['x-amz-content-sha256']!,
          amzDate: sent.headers['x-amz-date']!,
          key: deriveSigningKey(TEST_CREDENTIALS, '20261129', 'us-east-1', 's3'),
        });
        if (recomputed.signature !== signature)
          throw new Error(`the signature does not cover what is sent: ${sent.path}`);

        // 3 + 4. The path is the authorized resource, covered by a grant of the decision.
        const first = intent.needs[0]!;
        const arnPath = first.resource.replace(/^arn:aws:s3:::/, '/');
        const decodedSent = decodeOnce(sentPath);
        if (decodedSent !== arnPath && !(decodedSent === `${arnPath}/` && !arnPath.slice(1).includes('/')))
          throw new Error(`sent ${sentPath} (${decodedSent}) for ${first.resource}`);
        for (const need of intent.needs) {
          const covering = decision.grantIds
            .map((id) => index.byId.get(id) as AwsGrant)
            .filter(
              (g) =>
                (g.action === need.action || (IMPLIED_ACTIONS[g.action] ?? []).includes(need.action)) &&
                g.resources.some((p) => arnMatches(p, need.resource)),
            );
          if (covering.length === 0)
            throw new Error(`${need.action} ${need.resource} is not covered by ${decision.grantIds}`);
        }

        // 5. Classifying the request as sent gives the same intent.
        const again = front(sent.method, `/${sentPath.slice(1)}${q === -1 ? '' : sent.path.slice(q)}`, {
          ...Object.fromEntries(
            Object.entries(sent.headers).filter(
              ([k]) => !['authorization', 'x-amz-date', 'x-amz-security-token', 'host'].includes(k),
            ),
          ),
          host: '127.0.0.1:4750',
          authorization: AGENT_AUTH,
          'x-amz-date': '20261129T200000Z',
        });
        if (!again.ok) throw new Error(`the sent request does not parse: ${again.message}`);
        const reclassified = classifyAws(again.request, CTX, undefined);
        if (!reclassified.ok) throw new Error(`the sent request does not classify: ${reclassified.message}`);
        if (reclassified.intent.operation !== intent.operation)
          throw new Error(`sent as ${reclassified.intent.operation}, authorized as ${intent.operation}`);
        if (needsOf(reclassified.intent.needs).join('\n') !== needsOf(intent.needs).join('\n'))
          throw new Error(`sent needs ${needsOf(reclassified.intent.needs)} != ${needsOf(intent.needs)}`);
      }),
      { numRuns: 10_000, seed: Number(process.env['ERRAND_FC_SEED'] ?? Date.now() % 2 ** 31) },
    );
    t.ok(stats.allowed >= 500, `the generator reaches allows (${JSON.stringify(stats)})`);
    t.ok(stats.signed >= 500, 'and signed requests');
    t.ok(operations.size >= 3, `several operations were allowed: ${[...operations].sort().join(', ')}`);
  },
);
