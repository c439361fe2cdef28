import { isIP } from 'node:net';
import { AWS_SERVICES } from '../classify/aws-routes.ts';
import { DNS_BUCKET } from '../classify/s3.ts';
import type { Reason } from '../errors.ts';
import type { Manifest } from '../manifest/types.ts';
import type { DestinationFloor } from './destinations.ts';
import { parseAuthority } from './front.ts';
import { authorityOf } from './http-grant.ts';

// What a CONNECT may open, decided from the manifest alone before anything is resolved or dialled
// (SECURITY-CASES B11, C8, C11, I1): an intercepted tunnel for a host the manifest names (HTTP grant
// hosts over https, AWS endpoint hosts of the manifest's region), a blind tunnel for a passthrough
// entry, or nothing.

export interface ProxyHosts {
  /** `host:port` of https HTTP grants: intercepted, each inner request authorized on its own. */
  readonly grantAuthorities: ReadonlySet<string>;
  /** Hosts (port 443) of the AWS endpoints this task's grants use: intercepted and re-signed. */
  readonly awsHosts: ReadonlySet<string>;
  /** `host:port` of passthrough entries: blind tunnels. */
  readonly passthrough: ReadonlySet<string>;
  /** Every host the manifest names, for port_denied / scheme_denied messages. */
  readonly knownHosts: ReadonlySet<string>;
  /** us-east-1 only: legacy global S3 names and the regional names they stand for. */
  readonly s3GlobalAlias: ReadonlyMap<string, string>;
}

export type ConnectPlan =
  | { readonly kind: 'intercept'; readonly host: string; readonly port: number; readonly aws: boolean }
  | { readonly kind: 'passthrough'; readonly host: string; readonly port: number }
  | { readonly kind: 'deny'; readonly reason: Reason; readonly message: string };

const key = (host: string, port: number) => `${host}:${port}`;

/** The hosts a manifest names, computed once at start. */
export function proxyHostsOf(m: Manifest): ProxyHosts {
  const grantAuthorities = new Set<string>();
  const knownHosts = new Set<string>();
  for (const g of m.http?.grants ?? []) {
    const a = authorityOf(g.url);
    knownHosts.add(a.host);
    if (a.scheme === 'https') grantAuthorities.add(key(a.host, a.port));
  }
  const passthrough = new Set<string>();
  for (const p of m.http?.passthrough ?? []) {
    passthrough.add(key(p.host.toLowerCase(), p.port));
    knownHosts.add(p.host.toLowerCase());
  }
  const awsHosts = new Set<string>();
  const s3GlobalAlias = new Map<string, string>();
  const region = m.aws?.region;
  for (const g of m.aws?.grants ?? []) {
    if (region === undefined) break;
    const service = AWS_SERVICES.get(g.action.split(':')[0]!);
    // Credential-returning services are refused by the classifier; no tunnel is opened for STS.
    if (!service || service.signingName === 'sts') continue;
    const regional = `${service.endpointPrefix}.${region}.amazonaws.com`;
    awsHosts.add(regional);
    if (service.signingName !== 's3') continue;
    const buckets = g.resources.map((r) => /^arn:aws[a-z-]*:s3:::([^/*?]+)/.exec(r)?.[1]);
    // Virtual-hosted-style names of granted buckets (S3 User Guide, "Virtual hosting of buckets").
    for (const bucket of buckets) {
      if (bucket !== undefined && DNS_BUCKET.test(bucket)) awsHosts.add(`${bucket}.${regional}`);
    }
    if (region === 'us-east-1') {
      // SDKs still address us-east-1 through the legacy global endpoint (s3.amazonaws.com).
      s3GlobalAlias.set('s3.amazonaws.com', regional);
      for (const bucket of buckets) {
        if (bucket !== undefined && DNS_BUCKET.test(bucket))
          s3GlobalAlias.set(`${bucket}.s3.amazonaws.com`, `${bucket}.${regional}`);
      }
    }
  }
  for (const alias of s3GlobalAlias.keys()) awsHosts.add(alias);
  for (const h of awsHosts) knownHosts.add(h);
  return { grantAuthorities, awsHosts, passthrough, knownHosts, s3GlobalAlias };
}

/** Parses a CONNECT request-target: authority-form `host:port` only (RFC 9110 §9.3.6), the port
 *  required, IPv6 in brackets, no user information, path or scheme (B11). */
export function parseConnectTarget(
  target: string,
): { readonly host: string; readonly port: number } | undefined {
  if (!/:[1-9][0-9]{0,4}$/.test(target)) return undefined;
  const parsed = parseAuthority(target);
  if (!parsed || parsed.port === undefined) return undefined;
  // An unbracketed IPv6 literal is ambiguous with host:port; parseAuthority refuses it already.
  return { host: parsed.host, port: parsed.port };
}

/** Decides what a CONNECT may open, from the manifest only (no DNS, no dial). */
export function planConnect(target: string, hosts: ProxyHosts, floor: DestinationFloor): ConnectPlan {
  const parsed = parseConnectTarget(target);
  if (!parsed) {
    return {
      kind: 'deny',
      reason: 'malformed_request',
      message: 'CONNECT needs host:port (an IPv6 address in brackets)',
    };
  }
  const { host, port } = parsed;
  // Literals on the always-closed part of the floor (metadata, link-local, multicast, …) are refused
  // before the manifest is even read: no grant can open them.
  if (isIP(host) !== 0 && !floor.permits(host, true)) {
    return {
      kind: 'deny',
      reason: 'dest_ip_denied',
      message: `${host} is a ${floor.classify(host).replace('_', '-')} address, which Errand never connects to`,
    };
  }
  const k = key(host, port);
  if (hosts.passthrough.has(k)) return { kind: 'passthrough', host, port };
  if (hosts.grantAuthorities.has(k)) return { kind: 'intercept', host, port, aws: false };
  if (port === 443 && hosts.awsHosts.has(host)) return { kind: 'intercept', host, port, aws: true };
  if (hosts.knownHosts.has(host)) {
    return port === 80
      ? {
          kind: 'deny',
          reason: 'scheme_denied',
          message: `${host} is granted over https only; CONNECT to port 443`,
        }
      : {
          kind: 'deny',
          reason: 'port_denied',
          message: `port ${port} of ${host} is not in this task's manifest`,
        };
  }
  if (isIP(host) !== 0 && !floor.permits(host, false)) {
    return {
      kind: 'deny',
      reason: 'dest_ip_denied',
      message: `${host} is a ${floor.classify(host).replace('_', '-')} address, which Errand never connects to`,
    };
  }
  return {
    kind: 'deny',
    reason: 'not_in_manifest',
    message: `${host.slice(0, 100)}:${port} is not in this task's manifest`,
  };
}
