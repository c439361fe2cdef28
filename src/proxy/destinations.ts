import { BlockList, isIPv4, isIPv6, SocketAddress } from 'node:net';

// The destination floor: addresses Errand never dials for an agent, whatever the manifest says
// (SECURITY-CASES C1–C6). Modelled on smokescreen's classifyAddr: a table of ranges, each with a
// category, checked against every address a name resolves to. Only the loudly named grant switch
// `unsafeAllowPrivateAddress` opens the private, loopback and CGNAT ranges; link-local (instance
// metadata, ECS and EKS Pod Identity credentials), multicast, unspecified and reserved ranges and
// IPv4-embedded IPv6 stay closed for everyone.

export type AddressCategory =
  | 'public'
  | 'private'
  | 'loopback'
  | 'cgnat'
  | 'link_local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved'
  | 'ipv4_embedded'
  | 'not_an_address';

/** Categories a grant with unsafeAllowPrivateAddress may reach. */
const OPENABLE: ReadonlySet<AddressCategory> = new Set(['private', 'loopback', 'cgnat']);

type Range = readonly [category: AddressCategory, network: string, prefix: number];

// IANA IPv4 Special-Purpose Address Registry (RFC 6890 and updates). Documentation ranges
// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) are not routed and stay "public" here.
const V4: readonly Range[] = [
  ['unspecified', '0.0.0.0', 8],
  ['private', '10.0.0.0', 8],
  ['cgnat', '100.64.0.0', 10],
  ['loopback', '127.0.0.0', 8],
  // RFC 3927; 169.254.169.254 (EC2 IMDS), 169.254.170.2 (ECS), 169.254.170.23 (EKS Pod Identity).
  ['link_local', '169.254.0.0', 16],
  ['private', '172.16.0.0', 12],
  ['reserved', '192.0.0.0', 24],
  ['private', '192.168.0.0', 16],
  ['reserved', '198.18.0.0', 15],
  ['multicast', '224.0.0.0', 4],
  ['reserved', '240.0.0.0', 4],
];

// IANA IPv6 Special-Purpose Address Registry (RFC 6890, RFC 4291).
const V6: readonly Range[] = [
  // EC2 IMDS over IPv6 (fd00:ec2::254) and the EKS Pod Identity Agent (fd00:ec2::23): inside the
  // ULA range below, but never openable.
  ['metadata', 'fd00:ec2::', 64],
  ['unspecified', '::', 128],
  ['loopback', '::1', 128],
  ['ipv4_embedded', '::ffff:0:0', 96], // IPv4-mapped
  ['ipv4_embedded', '::', 96], // IPv4-compatible (deprecated)
  ['ipv4_embedded', '64:ff9b::', 96], // NAT64 (RFC 6052)
  ['ipv4_embedded', '64:ff9b:1::', 48], // local-use NAT64 (RFC 8215)
  ['ipv4_embedded', '2002::', 16], // 6to4 (RFC 3056)
  ['ipv4_embedded', '2001::', 32], // Teredo (RFC 4380)
  ['reserved', '100::', 64], // discard-only (RFC 6666)
  ['private', 'fc00::', 7], // unique local (RFC 4193)
  ['link_local', 'fe80::', 10],
  ['private', 'fec0::', 10], // site-local (deprecated, RFC 3879)
  ['multicast', 'ff00::', 8],
];

export interface DestinationFloor {
  /** The category of one address; anything that is not an IP literal is `not_an_address`. */
  classify(address: string): AddressCategory;
  /** Whether an address may be dialled, given the grant's private-address switch. */
  permits(address: string, allowPrivate: boolean): boolean;
}

/** A dotted quad (as `isIPv4` accepts it: four decimal octets, no leading zeros) as an unsigned
 *  32-bit number. */
const ipv4ToNumber = (address: string): number => {
  const [a, b, c, d] = address.split('.').map(Number) as [number, number, number, number];
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
};

/** Builds the floor's lookup tables (once per sidecar: no module-level state). */
export function createDestinationFloor(): DestinationFloor {
  // First match wins: the lists are ordered so the specific ranges come first. IPv4 ranges are
  // compared as network/mask numbers: this runs on every request, and BlockList.check builds a
  // SocketAddress per call (one per range). IPv6 keeps BlockList, with one SocketAddress per check.
  const v4 = V4.map(([category, network, prefix]) => ({
    category,
    network: ipv4ToNumber(network),
    mask: prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0,
  }));
  const v6 = V6.map(([category, network, prefix]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, 'ipv6');
    return { category, list };
  });
  const classify = (address: string): AddressCategory => {
    if (isIPv4(address)) {
      const n = ipv4ToNumber(address);
      for (const { category, network, mask } of v4) if ((n & mask) >>> 0 === network) return category;
      return 'public';
    }
    if (!isIPv6(address)) return 'not_an_address';
    // A zone id (fe80::1%eth0) names an interface: never a destination for an agent.
    if (address.includes('%')) return 'link_local';
    const parsed = new SocketAddress({ address, family: 'ipv6' });
    for (const { category, list } of v6) if (list.check(parsed)) return category;
    return 'public';
  };
  return {
    classify,
    permits(address, allowPrivate) {
      const category = classify(address);
      return category === 'public' || (allowPrivate && OPENABLE.has(category));
    },
  };
}

/** A reg-name whose last label is numeric or hex-looking is an IPv4 address in a spelling WHATWG
 *  URL and getaddrinfo would turn into one (2130706433, 0x7f.1, 0177.0.0.1, 127.1): refused
 *  before any lookup unless it is the canonical dotted quad (SECURITY-CASES C2/C3). */
export function isAmbiguousNumericHost(host: string): boolean {
  if (isIPv4(host) || isIPv6(host)) return false;
  const last = host.split('.').at(-1) ?? '';
  return /^(?:[0-9]+|0x[0-9a-f]*)$/i.test(last);
}

/** RFC 6761 §6.3: `localhost` and names under it are loopback, whatever a resolver says. */
export function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}
