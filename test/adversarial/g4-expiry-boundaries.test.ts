import { connect } from 'node:net';
import t from 'tap';
import { AGENT_AUTH, OUT_ARN, OUT_KEY, REPORT_ARN, REPORT_KEY } from '../helpers/adversarial.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { startTestSidecar, staticCredentials } from '../helpers/sidecar.ts';

// G4: at the deadline every new request is refused (also on a keep-alive socket opened before it),
// the STS credentials are dropped and a final record is written. A request authorized before the
// deadline finishes (documented in-flight policy): its body may still arrive after it.
t.test(
  'the deadline refuses new requests, drops credentials, lets the in-flight upload finish',
  async (t) => {
    const expiresAt = new Date(Math.ceil((Date.now() + 2500) / 1000) * 1000);
    const m = manifestWith(
      [
        awsGrant({ id: 'read', action: 's3:GetObject', resources: [REPORT_ARN], uses: 'unlimited' }),
        awsGrant({ id: 'write', action: 's3:PutObject', resources: [OUT_ARN], uses: 'unlimited' }),
      ],
      [],
      expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    );
    const upstream = await startRecordingUpstream();
    const credentials = staticCredentials();
    const sc = await startTestSidecar({ manifest: m, upstreamUrl: upstream.url, credentials });
    t.teardown(async () => {
      await sc.stop();
      await upstream.close();
    });
    const head = (method: string, key: string, extra = '') =>
      `${method} /acme-uploads/${key} HTTP/1.1\r\nHost: 127.0.0.1:${sc.port}\r\nAuthorization: ${AGENT_AUTH}\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n${extra}\r\n`;

    const socket = connect(sc.port, '127.0.0.1');
    let received = '';
    socket.on('data', (c) => {
      received += c.toString('latin1');
    });
    await new Promise((r) => socket.once('connect', r));
    socket.write(head('GET', REPORT_KEY));
    await new Promise((r) => setTimeout(r, 300));
    t.match(received, /^HTTP\/1\.1 200 /, 'before the deadline: allowed');

    // An upload authorized before the deadline, whose body finishes after it.
    const upload = connect(sc.port, '127.0.0.1');
    let uploadAnswer = '';
    upload.on('data', (c) => {
      uploadAnswer += c.toString('latin1');
    });
    await new Promise((r) => upload.once('connect', r));
    upload.write(`${head('PUT', OUT_KEY, 'Content-Length: 10\r\n')}hello`);

    await new Promise((r) => setTimeout(r, expiresAt.getTime() - Date.now() + 300));
    upload.write('world');
    socket.write(head('GET', REPORT_KEY));
    await new Promise((r) => setTimeout(r, 400));
    t.match(
      received,
      /HTTP\/1\.1 403 [\s\S]*manifest_expired/,
      'after it: refused on the same keep-alive socket',
    );
    t.match(uploadAnswer, /^HTTP\/1\.1 200 /, 'the upload authorized before the deadline finished');
    t.ok(credentials.wiped, 'the STS credentials were dropped at the deadline');
    const events = (await sc.auditRecords()).map((r) => r['event']);
    t.ok(events.includes('task_expired'), 'a final record says the task expired');
    t.equal(
      upstream.requests.filter((r) => r.method === 'GET').length,
      1,
      'the late GET never reached the upstream',
    );
    socket.destroy();
    upload.destroy();
  },
);
