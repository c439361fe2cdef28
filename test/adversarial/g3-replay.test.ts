import t from 'tap';
import { harness, REPORT_ARN, REPORT_KEY, s3Request } from '../helpers/adversarial.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { inMinutes } from '../helpers/sidecar.ts';

// G3: the exact bytes of an earlier allowed request, replayed, are a new request: authorized again,
// counted against the uses left, signed by Errand, never carrying the agent's own signature.
t.test('a replayed request is a new request subject to the remaining uses', async (t) => {
  const m = manifestWith(
    [awsGrant({ id: 'read-twice', action: 's3:GetObject', resources: [REPORT_ARN], uses: 2 })],
    [],
    inMinutes(30),
  );
  const h = await harness(t, m);
  const bytes = s3Request(h, 'GET', `/acme-uploads/${REPORT_KEY}`);
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await h.raw(bytes)).statuses[0] ?? 0);
  t.same(statuses, [200, 200, 403], 'two uses, then refused');
  t.equal(h.upstream.requests.length, 2);
  for (const sent of h.upstream.requests) {
    t.notMatch(
      String(sent.headers['authorization']),
      /AKIAPLACEHOLDER/,
      "the agent's signature is never forwarded",
    );
    t.match(String(sent.headers['authorization']), /^AWS4-HMAC-SHA256 Credential=ASIATESTERRANDCANARY1\//);
  }
});
