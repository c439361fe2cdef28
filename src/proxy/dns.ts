import { lookup } from 'node:dns/promises';
import { connect, isIP, type Socket } from 'node:net';
import type { Reason } from '../errors.ts';
import { type DestinationFloor, isAmbiguousNumericHost, isLocalhostName } from './destinations.ts';

// Name resolution and dialling for agent-named destinations, both injected (SECURITY-CASES §0.3:
// tests count their calls to prove a denied request resolved and dialled nothing). A name is
// resolved once, every answer is checked against the floor, and the checked address is the one
// dialled: nothing later resolves the name again (C6, DNS rebinding).

/** Every address a name resolves to (A and AAAA), in the resolver's order. */
export type Resolver = (host: string) => Promise<readonly string[]>;
/** Opens a TCP connection to an address Errand already checked. */
export type Dialer = (address: string, port: number) => Promise<Socket>;

export const RESOLVE_TIMEOUT_MS = 5_000;
export const DIAL_TIMEOUT_MS = 10_000;

export const systemResolver: Resolver = async (host) => {
  const answers = await lookup(host, { all: true, verbatim: true });
  return answers.map((a) => a.address);
};

export const systemDialer: Dialer = (address, port) =>
  new Promise((resolve, reject) => {
    // autoSelectFamily off: the one checked address, no happy-eyeballs fallback to another.
    const socket = connect({ host: address, port, autoSelectFamily: false });
    socket.setTimeout(DIAL_TIMEOUT_MS, () => socket.destroy(new Error('connect timeout')));
    socket.once('connect', () => {
      socket.setTimeout(0);
      resolve(socket);
    });
    socket.once('error', reject);
  });

export type Destination =
  | { readonly ok: true; readonly address: string }
  | { readonly ok: false; readonly reason: Reason; readonly message: string };

/** Checks an IP-literal host against the floor without any lookup (a name returns undefined). */
export function checkLiteral(
  host: string,
  floor: DestinationFloor,
  allowPrivate: boolean,
): Destination | undefined {
  if (isIP(host) !== 0) {
    return floor.permits(host, allowPrivate)
      ? { ok: true, address: host }
      : {
          ok: false,
          reason: 'dest_ip_denied',
          message: `${host} is a ${floor.classify(host).replace('_', '-')} address, which Errand never connects to`,
        };
  }
  if (isLocalhostName(host)) {
    return allowPrivate
      ? { ok: true, address: '127.0.0.1' }
      : { ok: false, reason: 'dest_ip_denied', message: `${host} is a loopback name` };
  }
  if (isAmbiguousNumericHost(host)) {
    return { ok: false, reason: 'bad_host', message: 'a numeric host must be a dotted-quad IPv4 address' };
  }
  return undefined;
}

/** Resolves `host` once and picks the address to dial. A name with any answer the floor refuses is
 *  refused outright (smokescreen picks the first allowed answer; mixing public and internal
 *  answers is itself a sign of rebinding, C5). */
export async function resolveDestination(
  host: string,
  resolver: Resolver,
  floor: DestinationFloor,
  allowPrivate: boolean,
): Promise<Destination> {
  const literal = checkLiteral(host, floor, allowPrivate);
  if (literal) return literal;
  let answers: readonly string[];
  try {
    answers = await Promise.race([
      resolver(host),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('timeout')), RESOLVE_TIMEOUT_MS).unref(),
      ),
    ]);
  } catch {
    return { ok: false, reason: 'dns_denied', message: `${host.slice(0, 100)} does not resolve` };
  }
  if (answers.length === 0) {
    return { ok: false, reason: 'dns_denied', message: `${host.slice(0, 100)} does not resolve` };
  }
  const refused = answers.find((a) => !floor.permits(a, allowPrivate));
  if (refused !== undefined) {
    return {
      ok: false,
      reason: 'dest_ip_denied',
      message: `${host.slice(0, 100)} resolves to a ${floor.classify(refused).replace('_', '-')} address, which Errand never connects to`,
    };
  }
  return { ok: true, address: answers[0]! };
}
