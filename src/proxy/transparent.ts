// The transparent listener's view of a redirected connection: iptables/nftables REDIRECT sends the
// agent's connections here without any CONNECT, so the destination is read from what the client
// sends first — the TLS ClientHello's server_name (RFC 6066 §3) or, for plain HTTP, each request's
// Host — and then the same rules as CONNECT apply. The name is only ever a name: Errand resolves it
// itself and never dials an address the client chose.

/** Largest first TLS record Errand waits for (RFC 8446 §5.1: 2^14 plus the header). */
export const MAX_HELLO_BYTES = 16_384 + 5;

export type HelloRead =
  | { readonly kind: 'need_more' }
  | { readonly kind: 'not_tls' }
  | { readonly kind: 'malformed' }
  | { readonly kind: 'no_sni' }
  | { readonly kind: 'sni'; readonly host: string };

/** Reads the server name from the first TLS record, bounds-checked at every step. Pure. */
export function readClientHelloSni(buf: Uint8Array): HelloRead {
  if (buf.length === 0) return { kind: 'need_more' };
  if (buf[0] !== 0x16) return { kind: 'not_tls' };
  if (buf.length < 5) return { kind: 'need_more' };
  const recordLength = (buf[3]! << 8) | buf[4]!;
  if (recordLength > 16_384 || recordLength < 4) return { kind: 'malformed' };
  if (buf.length < 5 + recordLength) return { kind: 'need_more' };
  const end = 5 + recordLength;
  let at = 5;
  const need = (n: number) => at + n <= end;
  // Handshake header: type 1 (client_hello), 24-bit length.
  if (!need(4) || buf[at] !== 0x01) return { kind: 'malformed' };
  at += 4;
  // legacy_version (2) + random (32).
  if (!need(34)) return { kind: 'malformed' };
  at += 34;
  // legacy_session_id <0..32>.
  if (!need(1)) return { kind: 'malformed' };
  at += 1 + buf[at]!;
  // cipher_suites <2..2^16-2>.
  if (!need(2)) return { kind: 'malformed' };
  at += 2 + ((buf[at]! << 8) | buf[at + 1]!);
  // legacy_compression_methods <1..2^8-1>.
  if (!need(1)) return { kind: 'malformed' };
  at += 1 + buf[at]!;
  if (at === end) return { kind: 'no_sni' };
  if (!need(2)) return { kind: 'malformed' };
  const extensionsEnd = Math.min(end, at + 2 + ((buf[at]! << 8) | buf[at + 1]!));
  at += 2;
  while (at + 4 <= extensionsEnd) {
    const type = (buf[at]! << 8) | buf[at + 1]!;
    const length = (buf[at + 2]! << 8) | buf[at + 3]!;
    at += 4;
    if (at + length > extensionsEnd) return { kind: 'malformed' };
    if (type === 0x0000) {
      // server_name_list <1..2^16-1>; one host_name (type 0) entry is what clients send.
      let p = at + 2;
      const listEnd = Math.min(at + length, at + 2 + ((buf[at]! << 8) | buf[at + 1]!));
      while (p + 3 <= listEnd) {
        const nameType = buf[p]!;
        const nameLength = (buf[p + 1]! << 8) | buf[p + 2]!;
        p += 3;
        if (p + nameLength > listEnd) return { kind: 'malformed' };
        if (nameType === 0) {
          const host = Buffer.from(buf.subarray(p, p + nameLength)).toString('latin1');
          // RFC 6066: a DNS host name, ASCII, no trailing dot; anything else is not a name here.
          if (!/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\.?$/.test(host))
            return { kind: 'malformed' };
          return { kind: 'sni', host: host.toLowerCase().replace(/\.$/, '') };
        }
        p += nameLength;
      }
      return { kind: 'malformed' };
    }
    at += length;
  }
  return { kind: 'no_sni' };
}
