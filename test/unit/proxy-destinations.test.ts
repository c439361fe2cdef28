import { BlockList } from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import {
  createDestinationFloor,
  isAmbiguousNumericHost,
  isLocalhostName,
} from '../../src/proxy/destinations.ts';
import { checkLiteral, resolveDestination } from '../../src/proxy/dns.ts';

// The destination floor as a table: each address, its category, and whether the grant switch
// unsafeAllowPrivateAddress can open it (SECURITY-CASES C1–C6).

const floor = createDestinationFloor();

const TABLE: [string, string, boolean, boolean][] = [
  // address, category, permitted, permitted with unsafeAllowPrivateAddress
  ['8.8.8.8', 'public', true, true],
  ['203.0.113.10', 'public', true, true],
  ['2606:4700::1111', 'public', true, true],
  ['169.254.169.254', 'link_local', false, false],
  ['169.254.170.2', 'link_local', false, false],
  ['169.254.170.23', 'link_local', false, false],
  ['fd00:ec2::254', 'metadata', false, false],
  ['fd00:ec2::23', 'metadata', false, false],
  ['10.0.0.1', 'private', false, true],
  ['172.16.0.1', 'private', false, true],
  ['172.31.255.255', 'private', false, true],
  ['172.32.0.1', 'public', true, true],
  ['192.168.1.1', 'private', false, true],
  ['100.64.0.1', 'cgnat', false, true],
  ['100.128.0.1', 'public', true, true],
  ['127.0.0.1', 'loopback', false, true],
  ['127.255.255.254', 'loopback', false, true],
  ['::1', 'loopback', false, true],
  ['fd12:3456::1', 'private', false, true],
  ['fec0::1', 'private', false, true],
  ['0.0.0.0', 'unspecified', false, false],
  ['::', 'unspecified', false, false],
  ['224.0.0.1', 'multicast', false, false],
  ['ff02::1', 'multicast', false, false],
  ['255.255.255.255', 'reserved', false, false],
  ['198.18.0.1', 'reserved', false, false],
  ['192.0.0.170', 'reserved', false, false],
  ['100::1', 'reserved', false, false],
  ['fe80::1', 'link_local', false, false],
  ['fe80::1%eth0', 'link_local', false, false],
  ['::ffff:127.0.0.1', 'ipv4_embedded', false, false],
  ['::ffff:8.8.8.8', 'ipv4_embedded', false, false],
  ['::127.0.0.1', 'ipv4_embedded', false, false],
  ['64:ff9b::a9fe:a9fe', 'ipv4_embedded', false, false],
  ['64:ff9b:1::1', 'ipv4_embedded', false, false],
  ['2002:a9fe:a9fe::1', 'ipv4_embedded', false, false],
  ['2001:0:4136:e378::1', 'ipv4_embedded', false, false],
  ['api.acme.test', 'not_an_address', false, false],
  ['0177.0.0.1', 'not_an_address', false, false],
];

t.test('address table', async (t) => {
  for (const [address, category, permitted, opened] of TABLE) {
    t.equal(floor.classify(address), category, `${address}: ${category}`);
    t.equal(floor.permits(address, false), permitted, `${address}: permitted=${permitted}`);
    t.equal(floor.permits(address, true), opened, `${address}: with the switch=${opened}`);
  }
});

t.test('numeric and localhost names', async (t) => {
  for (const host of ['2130706433', '0x7f.1', '0177.0.0.1', '127.1', 'a.0x10', 'x.123']) {
    t.ok(isAmbiguousNumericHost(host), `${host} is refused before any lookup`);
  }
  for (const host of ['127.0.0.1', '::1', 'api.acme.test', 'a1.example', '1.example.com']) {
    t.notOk(isAmbiguousNumericHost(host), `${host} is not ambiguous`);
  }
  t.ok(isLocalhostName('localhost'));
  t.ok(isLocalhostName('a.localhost'));
  t.notOk(isLocalhostName('localhost.acme.test'));
});

t.test('checkLiteral and resolveDestination', async (t) => {
  t.same(checkLiteral('8.8.8.8', floor, false), { ok: true, address: '8.8.8.8' });
  t.match(checkLiteral('10.0.0.1', floor, false), {
    ok: false,
    reason: 'dest_ip_denied',
    message: /private address/,
  });
  t.same(checkLiteral('10.0.0.1', floor, true), { ok: true, address: '10.0.0.1' });
  t.match(checkLiteral('localhost', floor, false), { ok: false, reason: 'dest_ip_denied' });
  t.same(checkLiteral('localhost', floor, true), { ok: true, address: '127.0.0.1' });
  t.match(checkLiteral('127.1', floor, true), { ok: false, reason: 'bad_host' });
  t.equal(checkLiteral('api.acme.test', floor, false), undefined, 'a name needs a lookup');

  const calls: string[] = [];
  const resolver = async (host: string) => {
    calls.push(host);
    if (host === 'none.test') return [];
    if (host === 'fail.test') throw new Error('SERVFAIL 10.0.0.53');
    if (host === 'mixed.test') return ['203.0.113.5', '10.0.0.5'];
    return ['203.0.113.7', '203.0.113.8'];
  };
  t.same(await resolveDestination('ok.test', resolver, floor, false), { ok: true, address: '203.0.113.7' });
  const mixed = await resolveDestination('mixed.test', resolver, floor, false);
  t.match(mixed, { ok: false, reason: 'dest_ip_denied' });
  t.notMatch(JSON.stringify(mixed), '10.0.0.5', 'the refused address is not echoed');
  t.same(await resolveDestination('mixed.test', resolver, floor, true), { ok: true, address: '203.0.113.5' });
  t.match(await resolveDestination('none.test', resolver, floor, false), { ok: false, reason: 'dns_denied' });
  const failed = await resolveDestination('fail.test', resolver, floor, false);
  t.match(failed, { ok: false, reason: 'dns_denied' });
  t.notMatch(JSON.stringify(failed), 'SERVFAIL', 'resolver output is not echoed');
  t.same(await resolveDestination('169.254.169.254', resolver, floor, true), {
    ok: false,
    reason: 'dest_ip_denied',
    message: '169.254.169.254 is a link-local address, which Errand never connects to',
  });
  t.same(
    calls,
    ['ok.test', 'mixed.test', 'mixed.test', 'none.test', 'fail.test'],
    'literals are never looked up',
  );
});

// The IPv4 floor is compared as numbers (no BlockList per request): it must classify every address
// exactly as BlockList does for the same IANA ranges, including the first and last of each range.
t.test('IPv4 classification agrees with a BlockList of the same ranges', async (t) => {
  const ranges: [string, string, number][] = [
    ['unspecified', '0.0.0.0', 8],
    ['private', '10.0.0.0', 8],
    ['cgnat', '100.64.0.0', 10],
    ['loopback', '127.0.0.0', 8],
    ['link_local', '169.254.0.0', 16],
    ['private', '172.16.0.0', 12],
    ['reserved', '192.0.0.0', 24],
    ['private', '192.168.0.0', 16],
    ['reserved', '198.18.0.0', 15],
    ['multicast', '224.0.0.0', 4],
    ['reserved', '240.0.0.0', 4],
  ];
  const lists = ranges.map(([category, network, prefix]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, 'ipv4');
    return { category, list };
  });
  const reference = (a: string) => lists.find((l) => l.list.check(a, 'ipv4'))?.category ?? 'public';
  const edges = ranges.flatMap(([, network, prefix]) => {
    const n = network.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const size = 2 ** (32 - prefix);
    return [n - 1, n, n + size - 1, n + size].filter((x) => x >= 0 && x < 2 ** 32);
  });
  const dotted = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
  for (const n of edges) t.equal(floor.classify(dotted(n)), reference(dotted(n)), dotted(n));
  fc.assert(
    fc.property(fc.ipV4(), (a) => floor.classify(a) === reference(a)),
    { numRuns: 5000 },
  );
});
