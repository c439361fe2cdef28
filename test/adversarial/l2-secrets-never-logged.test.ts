// L2 (and K1/K2, G5): no secret Errand holds ever reaches what the agent or the operator can see.
// `errand run` runs with debug logging, its task STS session minted by the emulator through a front
// that keeps every credential it saw minted, and Errand's own source credentials in its environment.
// The agent then drives every path: allowed, denied, malformed, an upstream error, and an upstream that
// echoes what Errand sent it (the Authorization header and the session token in response headers,
// S3's SignatureDoesNotMatch body with <AWSAccessKeyId>, <StringToSign> and <CanonicalRequest>, an
// ExpiredToken body with <Token-0>). Everything the agent received, Errand's stdout and stderr, the
// audit file, the use journal, /metrics and /readyz?verbose are searched for each secret; any hit fails.

import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { AGENT_AUTH } from '../helpers/adversarial.ts';
import { signTask, spawnErrand, waitReady } from '../helpers/errand-process.ts';
import { type Moto, startMoto } from '../helpers/moto.ts';
import { rawExchange } from '../helpers/raw-http.ts';
import { inMinutes } from '../helpers/sidecar.ts';
import { type StsFront, startStsFront } from '../helpers/sts-front.ts';

let moto: Moto;
let front: StsFront;
let dir: string;
let echo: Server;
let echoUrl = '';

t.before(async () => {
  moto = await startMoto();
  front = await startStsFront(moto.endpoint);
  dir = await mkdtemp(join(tmpdir(), 'errand-l2-'));
  // An S3 endpoint that echoes what Errand signed and sent, in every way a real one might.
  echo = createServer((req, res) => {
    const auth = String(req.headers['authorization'] ?? '');
    const token = String(req.headers['x-amz-security-token'] ?? '');
    const akid = /Credential=([^/]+)\//.exec(auth)?.[1] ?? '';
    const canonical = `${req.method}\n${req.url}\n\nhost:${req.headers['host']}\nx-amz-security-token:${token}\n`;
    const path = req.url ?? '';
    req.resume();
    if (path.endsWith('/echo-headers')) {
      res.writeHead(200, {
        'x-echo-authorization': auth,
        'x-echo-token': token,
        'x-amz-meta-note': `signed by ${akid}`,
        'content-type': 'text/plain',
      });
      res.end('data');
    } else if (path.endsWith('/signature-mismatch')) {
      res.writeHead(403, { 'content-type': 'application/xml', 'x-echo-authorization': auth });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method. Key ${akid} token ${token}</Message><AWSAccessKeyId>${akid}</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n20261129T000000Z\n20261129/us-east-1/s3/aws4_request\nabc</StringToSign><SignatureProvided>${/Signature=([0-9a-f]+)/.exec(auth)?.[1] ?? ''}</SignatureProvided><CanonicalRequest>${canonical}</CanonicalRequest><RequestId>1</RequestId></Error>`,
      );
    } else if (path.endsWith('/expired-token')) {
      res.writeHead(400, { 'content-type': 'application/xml' });
      res.end(
        `<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message><Token-0>${token}</Token-0><RequestId>2</RequestId></Error>`,
      );
    } else if (path.endsWith('/reset')) {
      req.socket.destroy();
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    }
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
});
t.teardown(async () => {
  echo?.closeAllConnections();
  echo?.close();
  await front?.close();
  await moto?.stop();
  await rm(dir, { recursive: true, force: true });
});

const KEYS = ['ok', 'echo-headers', 'signature-mismatch', 'expired-token', 'reset'];

t.test('every secret Errand holds stays out of responses, logs, audit, journal and metrics', async (t) => {
  const task = await signTask(
    dir,
    `apiVersion: errand.dev/v1
kind: TaskManifest
task:
  id: tsk_l2
  purpose: canary
  user: { subject: alice@example.com, session: sess_l2 }
  expiresAt: ${inMinutes(30)}
aws:
  region: us-east-1
  roleArn: ${moto.roleArn}
  grants:
${KEYS.map((k) => `    - { id: get-${k}, action: s3:GetObject, resource: "arn:aws:s3:::bkt/${k}", uses: 5 }`).join('\n')}
`,
  );
  const state = join(dir, 'state');
  const e = await spawnErrand(
    ['--manifest', task.manifest, '--trust-key', task.trustKey, '--state-dir', state, '--log-level', 'debug'],
    { ...moto.env(), AWS_ENDPOINT_URL_STS: front.url, AWS_ENDPOINT_URL_S3: echoUrl },
  );
  t.teardown(() => e.kill9());
  t.equal((await waitReady(e)).status, 200, e.stderr());

  // Everything the agent sees.
  const seen: string[] = [];
  const agent = async (path: string, headers: Record<string, string> = {}) => {
    try {
      const r = await request(`${e.endpoint}${path}`, {
        headers: { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...headers },
      });
      const body = await r.body.text().catch((x: Error) => `<body error ${x.message}>`);
      seen.push(`${r.statusCode}\n${JSON.stringify(r.headers)}\n${body}`);
      return { status: r.statusCode, headers: r.headers, body };
    } catch (error) {
      seen.push(String(error));
      return { status: 0, headers: {}, body: String(error) };
    }
  };
  const ok = await agent('/bkt/ok');
  t.equal(ok.status, 200, 'allowed');
  const echoed = await agent('/bkt/echo-headers');
  t.equal(echoed.status, 200, 'allowed, with an upstream that echoes the signed headers');
  const mismatch = await agent('/bkt/signature-mismatch');
  t.equal(mismatch.status, 403);
  t.match(mismatch.body, '<Code>SignatureDoesNotMatch</Code>', 'the agent still sees what went wrong');
  t.notMatch(mismatch.body, /<AWSAccessKeyId>|<StringToSign>|<CanonicalRequest>|<SignatureProvided>/);
  t.match(
    mismatch.headers['x-echo-authorization'],
    /Credential=\[redacted\]\//,
    'echoed headers are scrubbed',
  );
  const expired = await agent('/bkt/expired-token');
  t.equal(expired.status, 400);
  t.notMatch(expired.body, /<Token-0>/);
  t.equal((await agent('/bkt/reset')).status, 502, 'upstream error');
  t.equal((await agent('/bkt/not-granted')).status, 403, 'denied');
  t.equal(
    (await agent('/bkt/echo-headers', { 'x-amz-security-token': 'agent-placeholder-token' })).status,
    200,
    "the agent's own token header is dropped and replaced by Errand's, which is scrubbed from the echo",
  );
  const raw = await rawExchange(
    e.awsPort,
    'GET /bkt/ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
  );
  seen.push(raw.text);
  t.match(raw.statuses, [400], 'malformed');
  const metrics = await (await fetch(`http://127.0.0.1:${e.opsPort}/metrics`)).text();
  const readyz = await (await fetch(`http://127.0.0.1:${e.opsPort}/readyz?verbose`)).text();
  t.equal((await e.stop()).code, 0);

  // What Errand held: every session minted for it, and its own source credentials.
  t.ok(front.minted.length >= 1, 'the task session was minted through the front');
  const secrets = [
    ...front.minted.flatMap((c) => [
      ['STS access key id', c.accessKeyId],
      ['STS secret access key', c.secretAccessKey],
      ['STS session token', c.sessionToken],
    ]),
    ['source access key id', moto.sourceCredentials.accessKeyId],
    ['source secret access key', moto.sourceCredentials.secretAccessKey],
  ] as [string, string][];
  const journal = (await readdir(state)).find((f) => f.endsWith('.journal'))!;
  const outputs: [string, string][] = [
    ['responses to the agent', seen.join('\n')],
    ['stdout (audit echo)', e.stdout()],
    ['stderr (logs, debug level)', e.stderr()],
    ['audit file', await readFile(join(state, 'audit.jsonl'), 'utf8')],
    ['use journal', await readFile(join(state, journal), 'utf8')],
    ['/metrics', metrics],
    ['/readyz?verbose', readyz],
  ];
  for (const [where, text] of outputs) {
    t.ok(text.length > 0, `${where} was captured`);
    for (const [what, secret] of secrets) t.notOk(text.includes(secret), `${what} is not in the ${where}`);
    // Errand's request signatures: never in its logs, audit or metrics (an echoing endpoint may show the
    // agent the signature of a request Errand already sent; without the key it signs nothing new).
    if (where !== 'responses to the agent')
      t.notMatch(text, /X-Amz-Signature=|Signature=(?!0{64})[0-9a-f]{64}/, `no signature in the ${where}`);
  }
});
