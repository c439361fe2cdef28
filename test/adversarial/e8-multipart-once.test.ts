import t from 'tap';
import { harness, s3Request } from '../helpers/adversarial.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { inMinutes } from '../helpers/sidecar.ts';

// E8: one multipart upload is one use of a once PutObject grant. Parts ride on the upload the grant
// started; a second upload, a foreign upload id, part copies, and parts after Complete are refused.
t.test('multipart semantics under a once grant', async (t) => {
  const key = 'out/big.bin';
  const m = manifestWith(
    [awsGrant({ id: 'big', action: 's3:PutObject', resources: [`arn:aws:s3:::acme-uploads/${key}`] })],
    [],
    inMinutes(30),
  );
  const h = await harness(t, m);
  h.upstream.answer((r): { status: number; headers: Record<string, string>; body: string } =>
    r.url.includes('uploads') && r.method === 'POST' && !r.url.includes('uploadId')
      ? {
          status: 200,
          headers: { 'content-type': 'application/xml' },
          body: '<InitiateMultipartUploadResult><Bucket>acme-uploads</Bucket><Key>out/big.bin</Key><UploadId>UP-1</UploadId></InitiateMultipartUploadResult>',
        }
      : { status: 200, headers: { etag: '"e"' }, body: '' },
  );
  const path = `/acme-uploads/${key}`;
  const create = await h.raw(s3Request(h, 'POST', `${path}?uploads`, ['Content-Length: 0']));
  t.equal(create.statuses[0], 200, 'CreateMultipartUpload takes the one use');
  t.match(create.text, /<UploadId>UP-1<\/UploadId>/);
  for (const n of [1, 2, 3]) {
    const part = await h.raw(
      s3Request(h, 'PUT', `${path}?partNumber=${n}&uploadId=UP-1`, ['Content-Length: 4'], 'part'),
    );
    t.equal(part.statuses[0], 200, `UploadPart ${n} of the grant's upload`);
  }
  const foreign = await h.raw(
    s3Request(h, 'PUT', `${path}?partNumber=1&uploadId=SOMEONE-ELSE`, ['Content-Length: 4'], 'part'),
  );
  t.equal(foreign.statuses[0], 403, 'a part of an upload Errand did not start');
  const second = await h.raw(s3Request(h, 'POST', `${path}?uploads`, ['Content-Length: 0']));
  t.equal(second.statuses[0], 403, 'a second upload is a second use');
  t.match(second.text, /grant_exhausted/);
  const partCopy = await h.raw(
    s3Request(h, 'PUT', `${path}?partNumber=4&uploadId=UP-1`, [
      'x-amz-copy-source: /acme-uploads/users/bob/secret.txt',
      'Content-Length: 0',
    ]),
  );
  t.equal(partCopy.statuses[0], 403, 'UploadPartCopy reads another object');
  const complete = await h.raw(
    s3Request(h, 'POST', `${path}?uploadId=UP-1`, ['Content-Length: 11'], '<a></a>xxxx'),
  );
  t.equal(complete.statuses[0], 200, 'CompleteMultipartUpload of the grant upload');
  const late = await h.raw(
    s3Request(h, 'PUT', `${path}?partNumber=5&uploadId=UP-1`, ['Content-Length: 4'], 'part'),
  );
  t.equal(late.statuses[0], 403, 'no parts after Complete');
  const abortForeign = await h.raw(s3Request(h, 'DELETE', `${path}?uploadId=SOMEONE-ELSE`));
  t.equal(abortForeign.statuses[0], 403, "aborting someone else's upload");
  t.equal(h.upstream.requests.length, 5, 'create + three parts + complete');
});
