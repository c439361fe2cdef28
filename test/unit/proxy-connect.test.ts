import t from 'tap';
import { parseConnectTarget, planConnect, proxyHostsOf } from '../../src/proxy/connect.ts';
import { createDestinationFloor } from '../../src/proxy/destinations.ts';
import { awsGrant, httpGrant, manifestWith } from '../helpers/manifests.ts';

// What a CONNECT may open, from the manifest alone (B11, C8, C11, I1).

const m = manifestWith(
  [
    awsGrant({
      id: 'r',
      action: 's3:GetObject',
      resources: ['arn:aws:s3:::acme-uploads/users/alice/report.pdf'],
    }),
    awsGrant({ id: 'w', action: 's3:PutObject', resources: ['arn:aws:s3:::*/x'] }),
    awsGrant({
      id: 'd',
      action: 'dynamodb:GetItem',
      resources: ['arn:aws:dynamodb:us-east-1:123456789012:table/tasks'],
    }),
    awsGrant({ id: 's', action: 'sts:GetCallerIdentity', resources: ['*'] }),
  ],
  [
    httpGrant({ id: 'a', method: 'GET', url: 'https://api.acme.test/v1/x' }),
    httpGrant({ id: 'b', method: 'GET', url: 'https://api.acme.test:8443/v1/x' }),
    httpGrant({ id: 'p', method: 'GET', url: 'http://plain.acme.test/v1/x', unsafeAllowPlainHttp: true }),
  ],
);
const withPassthrough = { ...m, http: { ...m.http!, passthrough: [{ host: 'pypi.org', port: 443 }] } };
const hosts = proxyHostsOf(withPassthrough);
const floor = createDestinationFloor();

t.test('the hosts a manifest names', async (t) => {
  t.same([...hosts.grantAuthorities].sort(), ['api.acme.test:443', 'api.acme.test:8443']);
  t.same([...hosts.passthrough], ['pypi.org:443']);
  t.same([...hosts.awsHosts].sort(), [
    'acme-uploads.s3.amazonaws.com',
    'acme-uploads.s3.us-east-1.amazonaws.com',
    'dynamodb.us-east-1.amazonaws.com',
    's3.amazonaws.com',
    's3.us-east-1.amazonaws.com',
  ]);
  t.equal(
    hosts.s3GlobalAlias.get('acme-uploads.s3.amazonaws.com'),
    'acme-uploads.s3.us-east-1.amazonaws.com',
  );
  const west = proxyHostsOf({ ...m, aws: { ...m.aws!, region: 'eu-west-1' } });
  t.equal(west.s3GlobalAlias.size, 0, 'the global S3 names stand for us-east-1 only');
  t.ok(west.awsHosts.has('s3.eu-west-1.amazonaws.com'));
});

t.test('CONNECT targets', async (t) => {
  const table: [string, string, string?][] = [
    ['api.acme.test:443', 'intercept'],
    ['api.acme.test:8443', 'intercept'],
    ['s3.us-east-1.amazonaws.com:443', 'intercept'],
    ['acme-uploads.s3.amazonaws.com:443', 'intercept'],
    ['pypi.org:443', 'passthrough'],
    ['pypi.org:80', 'deny', 'scheme_denied'],
    ['api.acme.test:22', 'deny', 'port_denied'],
    ['s3.us-east-1.amazonaws.com:80', 'deny', 'scheme_denied'],
    ['s3.us-west-2.amazonaws.com:443', 'deny', 'not_in_manifest'],
    ['sts.us-east-1.amazonaws.com:443', 'deny', 'not_in_manifest'],
    ['plain.acme.test:443', 'deny', 'port_denied'],
    ['evil.test:443', 'deny', 'not_in_manifest'],
    ['203.0.113.9:443', 'deny', 'not_in_manifest'],
    ['10.0.0.1:443', 'deny', 'dest_ip_denied'],
    ['169.254.169.254:80', 'deny', 'dest_ip_denied'],
    ['[::1]:443', 'deny', 'dest_ip_denied'],
    ['api.acme.test', 'deny', 'malformed_request'],
    ['api.acme.test:0', 'deny', 'malformed_request'],
    ['api.acme.test:99999', 'deny', 'malformed_request'],
    ['::1:443', 'deny', 'malformed_request'],
  ];
  for (const [target, kind, reason] of table) {
    const plan = planConnect(target, hosts, floor);
    t.equal(plan.kind, kind, `${target}: ${kind}`);
    if (reason) t.equal(plan.kind === 'deny' && plan.reason, reason, `${target}: ${reason}`);
  }
  t.same(parseConnectTarget('API.Acme.Test.:443'), { host: 'api.acme.test', port: 443 });
  t.same(parseConnectTarget('[2001:db8::1]:443'), { host: '2001:db8::1', port: 443 });
  t.equal(parseConnectTarget('a@b:443'), undefined);
});
