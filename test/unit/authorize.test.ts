import t from 'tap';
import {
  arnMatches,
  authorizeAws,
  authorizeHttp,
  indexGrants,
  intentUrl,
} from '../../src/authorize/authorize.ts';
import { UseLedger } from '../../src/authorize/use-ledger.ts';
import type { AwsIntent, HttpIntent } from '../../src/classify/types.ts';
import { awsGrant, httpGrant, manifestWith } from '../helpers/manifests.ts';

const REPORT = 'arn:aws:s3:::acme-uploads/users/alice/report.pdf';
const m = manifestWith(
  [
    awsGrant({ id: 'read-report', action: 's3:GetObject', resources: [REPORT] }),
    awsGrant({
      id: 'write-out',
      action: 's3:PutObject',
      resources: ['arn:aws:s3:::acme-out/out/*'],
      broad: true,
      uses: 'unlimited',
      allowHeaders: ['x-amz-server-side-encryption'],
    }),
    awsGrant({
      id: 'list-alice',
      action: 's3:ListBucket',
      resources: ['arn:aws:s3:::acme-uploads'],
      conditions: { s3Prefix: 'users/alice/' },
      uses: 2,
    }),
  ],
  [
    httpGrant({ id: 'post-summary', method: 'POST', url: 'https://api.acme.dev/v1/summaries' }),
    httpGrant({
      id: 'get-item',
      method: 'GET',
      url: 'https://api.acme.dev/v1/items/*',
      pattern: true,
      uses: 'unlimited',
    }),
  ],
);
const index = indexGrants(m);
const NOW = Date.parse('2026-11-29T20:00:00Z');
const DEADLINE = Date.parse('2026-11-29T20:05:00Z');
const ledger = () => UseLedger.inMemory([...m.aws!.grants, ...m.http!.grants]);

const s3 = (
  operation: string,
  action: string,
  resource: string,
  extra: Partial<AwsIntent> = {},
): AwsIntent => ({
  kind: 'aws',
  service: 's3',
  region: 'us-east-1',
  operation,
  needs: [{ action, resource }],
  ...extra,
});
const aws = (
  intent: AwsIntent,
  l: UseLedger,
  sensitiveHeaders: string[] = [],
  uploads = new Map<string, string>(),
  now = NOW,
) => authorizeAws({ intent, sensitiveHeaders, uploads }, index, l, now, DEADLINE);

t.test('ARN patterns: * spans slashes, ? is one character, everything else literal', async (t) => {
  const rows: [string, string, boolean][] = [
    ['arn:aws:s3:::b/k', 'arn:aws:s3:::b/k', true],
    ['arn:aws:s3:::b/k', 'arn:aws:s3:::b/k2', false],
    ['arn:aws:s3:::b/tmp/*', 'arn:aws:s3:::b/tmp/a/b', true],
    ['arn:aws:s3:::b/tmp/*', 'arn:aws:s3:::b/tmpx', false],
    ['arn:aws:s3:::b/?.txt', 'arn:aws:s3:::b/a.txt', true],
    ['arn:aws:s3:::b/?.txt', 'arn:aws:s3:::b/ab.txt', false],
    ['arn:aws:s3:::b/a.c', 'arn:aws:s3:::b/abc', false],
    ['arn:aws:s3:::b/(x)+*', 'arn:aws:s3:::b/(x)+y', true],
  ];
  for (const [p, a, want] of rows) t.equal(arnMatches(p, a), want, `${p} vs ${a}`);
});

t.test('a once grant allows exactly one use, then says it was used', async (t) => {
  const l = ledger();
  const first = aws(s3('GetObject', 's3:GetObject', REPORT), l);
  t.same(first, {
    allow: true,
    reason: 'allowed',
    grantIds: ['read-report'],
    message: 'allowed by read-report',
    taken: ['read-report'],
  });
  const second = aws(s3('GetObject', 's3:GetObject', REPORT), l);
  t.equal(second.reason, 'grant_exhausted');
  t.match(
    second.message,
    /^grant read-report \(s3:GetObject on arn:aws:s3:::acme-uploads\/users\/alice\/report.pdf\) allowed 1 use and it has been used/,
  );
});

t.test('a neighbouring object is not granted, and the message names what is', async (t) => {
  const d = aws(s3('GetObject', 's3:GetObject', 'arn:aws:s3:::acme-uploads/users/bob/secret.txt'), ledger());
  t.equal(d.reason, 'aws_op_not_granted');
  t.equal(
    d.message,
    "GetObject needs s3:GetObject on arn:aws:s3:::acme-uploads/users/bob/secret.txt, which this task's manifest does not grant. This task may do s3:GetObject only as: read-report (s3:GetObject on arn:aws:s3:::acme-uploads/users/alice/report.pdf).",
  );
});

t.test('another action on the granted object is not granted', async (t) => {
  const d = aws(s3('DeleteObject', 's3:DeleteObject', REPORT), ledger());
  t.equal(d.reason, 'aws_op_not_granted');
  t.match(d.message, /This task has no s3:DeleteObject grant\.$/);
});

t.test('after the deadline nothing is allowed', async (t) => {
  const d = aws(s3('GetObject', 's3:GetObject', REPORT), ledger(), [], new Map(), DEADLINE);
  t.equal(d.reason, 'manifest_expired');
});

t.test('CopyObject needs the write grant and a read grant on the source', async (t) => {
  const copy = (source: string) =>
    s3('CopyObject', 's3:PutObject', 'arn:aws:s3:::acme-out/out/x', {
      needs: [
        { action: 's3:PutObject', resource: 'arn:aws:s3:::acme-out/out/x' },
        { action: 's3:GetObject', resource: source },
      ],
    });
  const denied = aws(copy('arn:aws:s3:::confidential/secrets.csv'), ledger());
  t.equal(denied.reason, 'aws_op_not_granted');
  t.match(denied.message, /s3:GetObject on arn:aws:s3:::confidential\/secrets.csv/);
  const l = ledger();
  const ok = aws(copy(REPORT), l);
  t.same(ok.grantIds, ['write-out', 'read-report']);
  t.equal(l.remaining('read-report'), 0, 'reading the source took the read grant');
});

t.test('a sensitive header needs the grant to allow it', async (t) => {
  const put = s3('PutObject', 's3:PutObject', 'arn:aws:s3:::acme-out/out/x');
  t.equal(aws(put, ledger(), ['x-amz-server-side-encryption']).allow, true);
  const d = aws(put, ledger(), ['x-amz-acl']);
  t.equal(d.reason, 'header_not_allowed');
  t.equal(
    d.message,
    'header x-amz-acl changes what PutObject does and grant write-out does not allow it; send the request without it',
  );
});

t.test('a list grant holds only its prefix condition', async (t) => {
  const list = (prefix: string) =>
    s3('ListObjectsV2', 's3:ListBucket', 'arn:aws:s3:::acme-uploads', {
      needs: [{ action: 's3:ListBucket', resource: 'arn:aws:s3:::acme-uploads', s3Prefix: prefix }],
    });
  t.equal(aws(list('users/alice/'), ledger()).allow, true);
  const d = aws(list('users/'), ledger());
  t.equal(d.reason, 'aws_op_not_granted');
  t.match(d.message, /with prefix "users\/"/);
});

t.test('multipart parts ride on the upload their grant started; foreign uploads are refused', async (t) => {
  const once = manifestWith([
    awsGrant({ id: 'big', action: 's3:PutObject', resources: ['arn:aws:s3:::b/out/big.bin'] }),
  ]);
  const idx = indexGrants(once);
  const l = UseLedger.inMemory(once.aws!.grants);
  const uploads = new Map<string, string>();
  const mk = (operation: string, uploadId?: string) =>
    s3(operation, 's3:PutObject', 'arn:aws:s3:::b/out/big.bin', uploadId ? { uploadId } : {});
  const run = (i: AwsIntent) =>
    authorizeAws({ intent: i, sensitiveHeaders: [], uploads }, idx, l, NOW, DEADLINE);
  t.equal(run(mk('CreateMultipartUpload')).allow, true);
  uploads.set('U1', 'big');
  t.equal(run(mk('UploadPart', 'U1')).allow, true);
  t.equal(run(mk('UploadPart', 'U1')).allow, true, 'parts take no further use');
  const foreign = run(mk('UploadPart', 'U2'));
  t.equal(foreign.reason, 'aws_op_not_granted');
  t.match(foreign.message, /names upload U2, which was not started through this task's grant/);
  t.equal(run(mk('CreateMultipartUpload')).reason, 'grant_exhausted', 'a second upload is a second use');
});

t.test('HTTP grants: exact URL, method, single-segment patterns, uses', async (t) => {
  const h = (
    method: string,
    rawPath: string,
    rawQuery = '',
    host = 'api.acme.dev',
    port = 443,
  ): HttpIntent => ({ kind: 'http', method, scheme: 'https', host, port, rawPath, rawQuery });
  const l = ledger();
  t.equal(authorizeHttp(h('POST', '/v1/summaries'), index, l, NOW, DEADLINE).allow, true);
  t.equal(authorizeHttp(h('POST', '/v1/summaries'), index, l, NOW, DEADLINE).reason, 'grant_exhausted');
  t.equal(authorizeHttp(h('DELETE', '/v1/summaries'), index, l, NOW, DEADLINE).reason, 'not_in_manifest');
  t.equal(
    authorizeHttp(h('POST', '/v1/summaries', 'x=1'), index, l, NOW, DEADLINE).reason,
    'not_in_manifest',
  );
  t.equal(authorizeHttp(h('GET', '/v1/items/42'), index, l, NOW, DEADLINE).allow, true);
  t.equal(authorizeHttp(h('GET', '/v1/items/42/admin'), index, l, NOW, DEADLINE).reason, 'not_in_manifest');
  t.equal(authorizeHttp(h('GET', '/v1/items/..'), index, l, NOW, DEADLINE).reason, 'not_in_manifest');
  t.equal(
    authorizeHttp(h('GET', '/v1/items/42', '', 'api.acme.dev', 8443), index, l, NOW, DEADLINE).reason,
    'not_in_manifest',
  );
  t.equal(authorizeHttp(h('GET', '/v1/items/42'), index, l, DEADLINE, DEADLINE).reason, 'manifest_expired');
  t.equal(intentUrl(h('GET', '/x', 'a=b', '::1', 8443)), 'https://[::1]:8443/x?a=b');
});

t.test('HEAD needs a use left but takes none; S3 Select is not a GetObject', async (t) => {
  const l = ledger();
  const head = aws(s3('HeadObject', 's3:GetObject', REPORT), l);
  t.same([head.allow, head.grantIds, head.allow && head.taken], [true, ['read-report'], []]);
  t.equal(l.remaining('read-report'), 1, 'the HEAD took nothing');
  t.equal(aws(s3('GetObject', 's3:GetObject', REPORT), l).allow, true);
  t.equal(
    aws(s3('HeadObject', 's3:GetObject', REPORT), l).reason,
    'grant_exhausted',
    'no HEAD once the grant is spent',
  );
  const select = aws(s3('SelectObjectContent', 's3:GetObject', REPORT), ledger());
  t.equal(select.reason, 'aws_op_not_granted');
  t.equal(
    select.message,
    'grant read-report (s3:GetObject) covers GetObject, HeadObject, not SelectObjectContent; this task may not run SelectObjectContent',
  );
});

t.test('abort and list-parts of the grant own upload are covered by its PutObject grant', async (t) => {
  const once = manifestWith([
    awsGrant({ id: 'big', action: 's3:PutObject', resources: ['arn:aws:s3:::b/out/big.bin'] }),
  ]);
  const idx = indexGrants(once);
  const l = UseLedger.inMemory(once.aws!.grants);
  const uploads = new Map([['U1', 'big']]);
  const run = (operation: string, action: string, uploadId: string) =>
    authorizeAws(
      {
        intent: s3(operation, action, 'arn:aws:s3:::b/out/big.bin', { uploadId }),
        sensitiveHeaders: [],
        uploads,
      },
      idx,
      l,
      NOW,
      DEADLINE,
    );
  const abort = run('AbortMultipartUpload', 's3:AbortMultipartUpload', 'U1');
  t.same([abort.allow, abort.allow && abort.taken], [true, []], 'no use taken by a part of the upload');
  t.equal(run('ListParts', 's3:ListMultipartUploadParts', 'U1').allow, true);
  t.equal(run('AbortMultipartUpload', 's3:AbortMultipartUpload', 'U9').reason, 'aws_op_not_granted');
  t.equal(
    authorizeAws(
      {
        intent: s3('AbortMultipartUpload', 's3:AbortMultipartUpload', 'arn:aws:s3:::b/out/big.bin'),
        sensitiveHeaders: [],
        uploads,
      },
      idx,
      l,
      NOW,
      DEADLINE,
    ).reason,
    'aws_op_not_granted',
    'without an upload id nothing is implied',
  );
});

t.test('unlimited grants take nothing to journal: no sync on the request path', async (t) => {
  const d = aws(s3('PutObject', 's3:PutObject', 'arn:aws:s3:::acme-out/out/x'), ledger());
  t.same([d.allow, d.grantIds, d.allow && d.taken], [true, ['write-out'], []]);
  const h = authorizeHttp(
    {
      kind: 'http',
      method: 'GET',
      scheme: 'https',
      host: 'api.acme.dev',
      port: 443,
      rawPath: '/v1/items/7',
      rawQuery: '',
    },
    index,
    ledger(),
    NOW,
    DEADLINE,
  );
  t.same([h.allow, h.allow && h.taken], [true, []]);
  const once = authorizeHttp(
    {
      kind: 'http',
      method: 'POST',
      scheme: 'https',
      host: 'api.acme.dev',
      port: 443,
      rawPath: '/v1/summaries',
      rawQuery: '',
    },
    index,
    ledger(),
    NOW,
    DEADLINE,
  );
  t.same(once.allow && once.taken, ['post-summary'], 'a counted grant is journaled');
});
