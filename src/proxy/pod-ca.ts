// @peculiar/x509 resolves its algorithm registry through tsyringe, which needs the Reflect
// metadata polyfill loaded first (docs/decisions/x509-library.md).
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext, getCACertificates, rootCertificates, type SecureContext } from 'node:tls';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  GeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  id_ce_nameConstraints,
  NameConstraints,
} from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { LRUCache } from 'lru-cache';

// The pod CA: generated in memory when Errand starts, its private key never exported nor written.
// Only its certificate leaves the process (ca.pem, and a bundle with the system roots for clients
// whose CA variable replaces the default store). Leaf certificates are minted on demand, only for
// the exact host names the manifest names, and cached (SECURITY-CASES I1: never a minting oracle).
// The CA itself carries X.509 name constraints (RFC 5280 §4.2.1.10) permitting only those names and
// excluding every IP address, so even a leaf minted by mistake would not verify for another host.

const subtle = webcrypto.subtle;
// @peculiar/x509 takes a WebCrypto provider; Node's webcrypto is one (typed without the DOM lib here).
const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export const CA_DEFAULTS = {
  /** Clock skew the certificates tolerate at the start of their validity. */
  backdateMs: 5 * 60_000,
  /** Leaf validity: short, re-minted when the cache entry ages out. */
  leafValidityMs: 60 * 60_000,
  /** Leaves kept (one per manifest host; bounded in any case). */
  cacheSize: 256,
} as const;

export interface PodCa {
  /** The CA certificate, PEM. */
  readonly certPem: string;
  /** The names leaves may be minted for (lower-case). */
  readonly names: ReadonlySet<string>;
  /** A TLS context with a leaf for `host`; undefined (and nothing minted) for any other name. */
  contextFor(host: string): Promise<SecureContext | undefined>;
  /** Leaves minted so far (the I1 tests count them). */
  minted(): number;
}

const serial = (): string => {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER (RFC 5280 §4.1.2.2)
  return b.toString('hex');
};

function nameConstraints(names: readonly string[]): x509.Extension {
  const sub = (base: GeneralName) => new GeneralSubtree({ base });
  const value = new NameConstraints({
    permittedSubtrees: new GeneralSubtrees(names.map((dNSName) => sub(new GeneralName({ dNSName })))),
    excludedSubtrees: new GeneralSubtrees([
      sub(new GeneralName({ iPAddress: '0.0.0.0/0' })),
      sub(new GeneralName({ iPAddress: '::/0' })),
    ]),
  });
  return new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(value));
}

const toPem = (label: string, der: ArrayBuffer): string =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END ${label}-----\n`;

/** Creates the pod CA for exactly `names` (lower-case host names, no IP literals). */
export async function createPodCa(opts: {
  names: readonly string[];
  now: () => number;
  /** The CA is not valid after this (the task deadline plus a margin). */
  notAfterMs: number;
  leafValidityMs?: number;
  cacheSize?: number;
}): Promise<PodCa> {
  const names = new Set(opts.names.map((n) => n.toLowerCase()));
  const sorted = [...names].sort();
  const start = opts.now() - CA_DEFAULTS.backdateMs;
  // The CA key is not extractable: it signs leaves inside WebCrypto and is never exported.
  const caKeys = await subtle.generateKey(ALG, false, ['sign', 'verify']);
  const caName = `CN=Errand pod CA ${randomBytes(4).toString('hex')}, O=Errand`;
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: caName,
      notBefore: new Date(start),
      notAfter: new Date(opts.notAfterMs),
      keys: caKeys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
        ...(sorted.length > 0 ? [nameConstraints(sorted)] : []),
      ],
    },
    crypto,
  );
  const certPem = ca.toString('pem');
  let minted = 0;

  const mint = async (host: string): Promise<SecureContext> => {
    const keys = await subtle.generateKey(ALG, true, ['sign', 'verify']);
    const now = opts.now();
    const notAfter = Math.min(now + (opts.leafValidityMs ?? CA_DEFAULTS.leafValidityMs), opts.notAfterMs);
    const leaf = await x509.X509CertificateGenerator.create(
      {
        serialNumber: serial(),
        subject: `CN=${host}`,
        issuer: ca.subject,
        notBefore: new Date(now - CA_DEFAULTS.backdateMs),
        notAfter: new Date(notAfter),
        signingKey: caKeys.privateKey,
        publicKey: keys.publicKey,
        signingAlgorithm: ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
          new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: host }], false),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
          await x509.AuthorityKeyIdentifierExtension.create(ca, false, crypto),
        ],
      },
      crypto,
    );
    const key = toPem('PRIVATE KEY', await subtle.exportKey('pkcs8', keys.privateKey));
    minted++;
    return createSecureContext({ key, cert: `${leaf.toString('pem')}\n${certPem}`, minVersion: 'TLSv1.2' });
  };

  const ttl = Math.max(1_000, (opts.leafValidityMs ?? CA_DEFAULTS.leafValidityMs) - CA_DEFAULTS.backdateMs);
  const cache = new LRUCache<string, Promise<SecureContext>>({
    max: opts.cacheSize ?? CA_DEFAULTS.cacheSize,
    ttl,
  });
  return {
    certPem,
    names,
    contextFor(host) {
      const name = host.toLowerCase();
      if (!names.has(name)) return Promise.resolve(undefined);
      let hit = cache.get(name);
      if (!hit) {
        hit = mint(name);
        cache.set(name, hit);
        hit.catch(() => cache.delete(name));
      }
      return hit;
    },
    minted: () => minted,
  };
}

/** The trust store clients should use when their CA variable replaces the default one. */
function systemRoots(): readonly string[] {
  try {
    const system = getCACertificates('system');
    if (system.length > 0) return system;
  } catch {
    // Older runtimes: fall through to the bundled Mozilla roots.
  }
  return rootCertificates;
}

/** Writes ca.pem (NODE_EXTRA_CA_CERTS) and ca-bundle.pem (the CA plus the system roots, for
 *  REQUESTS_CA_BUNDLE, SSL_CERT_FILE, AWS_CA_BUNDLE, CURL_CA_BUNDLE), each atomically. */
export async function writeCaFiles(
  dir: string,
  certPem: string,
): Promise<{ readonly caFile: string; readonly bundleFile: string }> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const put = async (name: string, text: string) => {
    const file = join(dir, name);
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, text, { mode: 0o644 });
    await chmod(tmp, 0o644);
    await rename(tmp, file);
    return file;
  };
  const caFile = await put('ca.pem', certPem);
  const bundleFile = await put('ca-bundle.pem', [certPem, ...systemRoots()].join('\n'));
  return { caFile, bundleFile };
}
