import t from 'tap';
import { harness, OUT_KEY, s3Request } from '../helpers/adversarial.ts';

// E2: x-amz-copy-source turns a PutObject into CopyObject (and UploadPart into UploadPartCopy), which
// reads another object: it needs a read grant on the source, which the write grant does not give.
t.test('copy-source variants on a write grant are refused; the source is never read', async (t) => {
  const h = await harness(t);
  const sources = [
    '/confidential/secrets.csv',
    'confidential/secrets.csv',
    '/confidential/secrets.csv?versionId=3HL4kqtJlcpXroDTDmJ',
    'confidential%2Fsecrets.csv',
    '/acme-uploads/users/bob/secret.txt',
  ];
  for (const source of sources) {
    const r = await h.raw(
      s3Request(h, 'PUT', `/acme-uploads/${OUT_KEY}`, [`x-amz-copy-source: ${source}`, 'Content-Length: 0']),
    );
    // 403 when it names another object; 400 when it names no object at all (no bucket/key split).
    t.ok([400, 403].includes(r.statuses[0] ?? 0), `${source} → ${r.statuses[0]}`);
    t.match(r.text, /aws_op_not_granted|malformed_request/, source);
  }
  const partCopy = await h.raw(
    s3Request(h, 'PUT', `/acme-uploads/${OUT_KEY}?partNumber=1&uploadId=X`, [
      'x-amz-copy-source: /confidential/secrets.csv',
      'x-amz-copy-source-range: bytes=0-1000',
      'Content-Length: 0',
    ]),
  );
  t.equal(partCopy.statuses[0], 403, 'UploadPartCopy');
  const directive = await h.raw(
    s3Request(
      h,
      'PUT',
      `/acme-uploads/${OUT_KEY}`,
      ['x-amz-metadata-directive: REPLACE', 'Content-Length: 2'],
      'hi',
    ),
  );
  t.equal(directive.statuses[0], 403, 'a metadata directive is not allowed by the grant');
  t.equal(h.upstream.requests.length, 0, 'nothing reached the upstream');
  t.ok((await h.reasons()).every((r) => r !== 'allowed'));
});
