// A stand-in for STS that answers AssumeRole with fixed, recognisable bench credentials, so
// `errand run` starts (and signs) exactly as in production without an emulator in the measured
// path. It checks nothing: it is the benchmark's, never a test oracle.
//
//   node bench/servers/sts-stand-in.ts
//
// Prints {"ready":true,"port":N} once it listens on 127.0.0.1.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const responseBody = (
  expiration: string,
): string => `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>bench</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/errand-task/bench</Arn>
      <AssumedRoleId>AROABENCHERRAND00000:bench</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIABENCHERRAND00001</AccessKeyId>
      <SecretAccessKey>benchSecretAccessKey/0123456789abcdefghijklmno</SecretAccessKey>
      <SessionToken>benchSessionToken0123456789abcdefghijklmnopqrstuvwxyz</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
    <PackedPolicySize>10</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>bench-sts</RequestId></ResponseMetadata>
</AssumeRoleResponse>`;

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    // STS sessions last at least 900 s; the manifest deadline bounds them further.
    const body = responseBody(new Date(Date.now() + 3600_000).toISOString());
    res.writeHead(200, { 'content-type': 'text/xml', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as AddressInfo).port })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
