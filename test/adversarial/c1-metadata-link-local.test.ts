import t from 'tap';
import { apiGrant, denyReasons, forwardHarness, httpManifest, httpRequest } from '../helpers/forward.ts';
import { httpGrant } from '../helpers/manifests.ts';

// C1: instance metadata, ECS and EKS Pod Identity credential addresses, by literal, are refused
// before anything else, even when a (buggy) manifest grants them with every unsafe switch on.

t.test('metadata and link-local literals', async (t) => {
  const buggy = httpGrant({
    id: 'imds',
    method: 'GET',
    url: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    unsafeAllowPlainHttp: true,
    unsafeAllowPrivateAddress: true,
  });
  const h = await forwardHarness(t, httpManifest([buggy, apiGrant({ id: 'x', path: '/v1/x' })]));
  for (const url of [
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://169.254.170.2/v2/credentials',
    'http://169.254.170.23/v1/credentials',
    'http://[fd00:ec2::23]/',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://[fe80::1]/',
  ]) {
    const r = await h.raw(httpRequest('GET', url, { host: url.split('/')[2] }));
    t.same(r.statuses, [403], `${url}: 403`);
    t.same(denyReasons(r.text), ['dest_ip_denied'], `${url}: dest_ip_denied`);
  }
  for (const target of ['169.254.169.254:80', '169.254.169.254:443', '[fd00:ec2::23]:80']) {
    const r = await h.raw(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    t.same(r.statuses, [403], `CONNECT ${target}: 403`);
    t.same(denyReasons(r.text), ['dest_ip_denied']);
  }
  const google = await h.raw(
    httpRequest('GET', 'http://metadata.google.internal/computeMetadata/v1/', {
      host: 'metadata.google.internal',
    }),
  );
  t.same(
    denyReasons(google.text),
    ['not_in_manifest'],
    'a metadata name not in the manifest is never looked up',
  );
  h.nothingReached(t);
  t.equal((await h.auditRecords()).filter((r) => r['reason'] === 'dest_ip_denied').length, 9);
});
