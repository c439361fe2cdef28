// The owner of the task's OAuth credentials: the DPoP key pair, Errand's client keys, one access
// token per grant, and the servers' DPoP nonces. The HTTP-grant path calls it once per authorized
// request; the agent never sees anything it holds.
//
// Per request (after the use was taken): authorize(grant, target) returns the headers to add —
// `Authorization: DPoP <token>` and a fresh `DPoP` proof for exactly the forwarded method and URL
// (RFC 9449 §7.1) — exchanging the user's token first when the grant has none yet (RFC 8693, lazily,
// one exchange at a time per grant). send() wraps one upstream request with the nonce dance of
// RFC 9449 §9: when the resource server answers 401 use_dpop_nonce, the request is sent once more
// with a new proof carrying the nonce. The retry is Errand's, inside the one authorized request, so
// it takes no second use (SECURITY-CASES F5).
//
// Lifetimes: a token is never used at or after the task deadline, nor after wipe(). JavaScript cannot
// overwrite strings; wiping drops every reference (docs/oauth.md says what that does not guarantee).
// The DPoP private key is a non-extractable WebCrypto key: nothing can read it out, and dropping the
// reference is the only way to forget it.

import { randomUUID } from 'node:crypto';
import { ErrandError } from '../../errors.ts';
import type { HttpGrant, LoadedManifest, OAuthInject } from '../../manifest/types.ts';
import {
  type DpopKey,
  type DpopTarget,
  dpopAth,
  dpopHtu,
  dpopHtuOfUrl,
  generateDpopKey,
  isUseDpopNonce,
  readDpopNonce,
  signDpopProof,
} from './dpop.ts';
import { readClientKey, readTokenFile } from './secret-files.ts';
import {
  buildTokenExchangeRequest,
  type ClientKey,
  type IssuedToken,
  processTokenResponse,
  signClientAssertion,
} from './token-exchange.ts';
import type { TokenTransport } from './token-transport.ts';

/** A token is replaced this long before the server's expiry (or a quarter of its life, if shorter). */
export const TOKEN_REFRESH_SKEW_MS = 30_000;

export interface OAuthCredentialsOptions {
  readonly loaded: LoadedManifest;
  readonly secretsDir: string | undefined;
  readonly transport: TokenTransport;
  readonly now?: () => number;
  /** A fresh unique id (proof and assertion jti). */
  readonly newId?: () => string;
}

/** What to add to one upstream request. */
export interface OAuthAuthorization {
  /** Lower-case names: `authorization`, and `dpop` when the grant is DPoP-bound. */
  readonly headers: Readonly<Record<string, string>>;
  /** Spellings of the token and proof to scrub from what the upstream sends back (F3). */
  readonly patterns: readonly string[];
  /** The nonce the proof carries, if any. */
  readonly nonce?: string;
}

export interface UpstreamReply {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface SendIo<R> {
  /** Sends the request with these headers added; may be called twice. */
  attempt(auth: OAuthAuthorization): Promise<R>;
  reply(result: R): UpstreamReply;
  /** Releases a first answer that is replaced by the retry (drain or destroy its body). */
  discard(result: R): Promise<void> | void;
  /** False when the body cannot be sent twice (streamed past a buffer): no nonce retry then. */
  readonly canRetry: boolean;
}

export interface SendResult<R> {
  readonly result: R;
  /** Scrub patterns for the answer relayed (those of the last attempt). */
  readonly patterns: readonly string[];
  /** True when the resource server asked for a nonce and the request went out a second time. */
  readonly nonceRetry: boolean;
}

export interface OAuthCredentials {
  /** True when some grant takes its credential from OAuth. */
  readonly enabled: boolean;
  /** Reads and checks every named file, loads the client keys, makes the DPoP key. Throws ERR_CONFIG. */
  start(): Promise<void>;
  authorize(grant: HttpGrant, target: DpopTarget): Promise<OAuthAuthorization>;
  /** Notes a resource server answer: stores its nonce, forgets a token it called invalid. */
  observe(
    grant: HttpGrant,
    target: DpopTarget,
    reply: UpstreamReply,
    sent: OAuthAuthorization,
  ): 'retry' | 'done';
  send<R>(grant: HttpGrant, target: DpopTarget, io: SendIo<R>): Promise<SendResult<R>>;
  /** Every access token held now, for canary scans. */
  all(): readonly string[];
  /** The DPoP public key thumbprint (cnf.jkt), once started. */
  thumbprint(): string | undefined;
  wipe(): void;
}

interface Held {
  readonly token: IssuedToken;
  /** When to exchange again (epoch ms). */
  readonly refreshAtMs: number;
}

const MIN_SCRUB_LENGTH = 8;

/** What an upstream is likely to echo of a value: raw, percent-encoded, base64, JSON-escaped. */
function spellings(values: readonly string[]): string[] {
  const forms = new Set<string>();
  for (const v of values) {
    forms.add(v);
    forms.add(encodeURIComponent(v));
    forms.add(Buffer.from(v).toString('base64'));
    forms.add(JSON.stringify(v).slice(1, -1));
  }
  return [...forms].filter((f) => f.length >= MIN_SCRUB_LENGTH).sort((a, b) => b.length - a.length);
}

const originOf = (url: string): string => new URL(url).origin;

export function createOAuthCredentials(opts: OAuthCredentialsOptions): OAuthCredentials {
  const now = opts.now ?? Date.now;
  const newId = opts.newId ?? randomUUID;
  const deadline = opts.loaded.expiresAtMs;
  const grants = (opts.loaded.manifest.http?.grants ?? []).filter((g) => g.oauth !== undefined);
  const clientKeys = new Map<string, ClientKey>();
  const tokens = new Map<string, Held>();
  const pending = new Map<string, Promise<Held>>();
  /** `as <origin>` / `rs <origin>` → the latest nonce that server sent (RFC 9449 §8, §9). */
  const nonces = new Map<string, string>();
  let dpopKey: DpopKey | undefined;
  let wiped = false;

  const forgetAll = () => {
    tokens.clear();
    pending.clear();
    nonces.clear();
  };

  const checkLive = (): void => {
    if (now() >= deadline) {
      forgetAll();
      throw new ErrandError('ERR_OAUTH_EXPIRED');
    }
    if (wiped) throw new ErrandError('ERR_OAUTH_WIPED');
  };

  const secretsDir = (): string => {
    if (opts.secretsDir === undefined) {
      throw new ErrandError(
        'ERR_CONFIG',
        'the manifest has OAuth grants; pass --secrets-dir with their token and key files',
      );
    }
    return opts.secretsDir;
  };

  const sec = (ms: number) => Math.floor(ms / 1000);

  /** One token exchange, with at most one retry when the authorization server asks for a nonce. */
  async function exchange(grant: HttpGrant, oauth: OAuthInject): Promise<Held> {
    const dir = secretsDir();
    const asKey = `as ${originOf(oauth.tokenEndpoint)}`;
    for (let attempt = 0; ; attempt++) {
      checkLive();
      // Token files are read for each exchange: an orchestrator may refresh the user's token, and a
      // projected workload identity token rotates.
      const subjectToken = await readTokenFile(dir, oauth.subjectToken);
      const actorToken =
        oauth.actorToken !== undefined ? await readTokenFile(dir, oauth.actorToken) : undefined;
      const client = clientKeys.get(oauth.clientKey);
      if (client === undefined)
        throw new ErrandError('ERR_CONFIG', `client key ${oauth.clientKey} was not loaded`);
      const started = now();
      const clientAssertion = await signClientAssertion(client, oauth, sec(started), newId());
      const nonce = nonces.get(asKey);
      const dpopProof =
        oauth.dpop && dpopKey !== undefined
          ? await signDpopProof(dpopKey, {
              htm: 'POST',
              htu: dpopHtuOfUrl(oauth.tokenEndpoint),
              iat: sec(started),
              jti: newId(),
              ...(nonce !== undefined ? { nonce } : {}),
            })
          : undefined;
      const request = buildTokenExchangeRequest(oauth, {
        subjectToken,
        ...(actorToken !== undefined ? { actorToken } : {}),
        clientAssertion,
        ...(dpopProof !== undefined ? { dpopProof } : {}),
      });
      const response = await opts.transport(request);
      // The deadline or a wipe may have come while the request was out: drop what came back.
      checkLive();
      const outcome = processTokenResponse(response, oauth, now());
      if (outcome.ok) {
        if (outcome.nonce !== undefined) nonces.set(asKey, outcome.nonce);
        const life = outcome.token.expiresAtMs - started;
        const expiresAtMs = Math.min(outcome.token.expiresAtMs, deadline);
        return {
          token: { ...outcome.token, expiresAtMs },
          refreshAtMs: Math.min(
            outcome.token.expiresAtMs - Math.min(TOKEN_REFRESH_SKEW_MS, life / 4),
            deadline,
          ),
        };
      }
      if (outcome.retryWithNonce !== undefined && attempt === 0 && outcome.retryWithNonce !== nonce) {
        nonces.set(asKey, outcome.retryWithNonce);
        continue;
      }
      throw (
        ('error' in outcome ? outcome.error : undefined) ??
        new ErrandError(
          'ERR_OAUTH_EXCHANGE',
          `grant ${grant.id}: the server asked for a new DPoP nonce twice`,
        )
      );
    }
  }

  /** The grant's token: the held one while fresh, else one exchange shared by concurrent callers. */
  async function tokenFor(grant: HttpGrant, oauth: OAuthInject): Promise<Held> {
    const held = tokens.get(grant.id);
    if (held !== undefined && now() < held.refreshAtMs) return held;
    let running = pending.get(grant.id);
    if (running === undefined) {
      running = exchange(grant, oauth).then(
        (h) => {
          if (pending.get(grant.id) === running) {
            pending.delete(grant.id);
            tokens.set(grant.id, h);
          }
          return h;
        },
        (error: unknown) => {
          if (pending.get(grant.id) === running) pending.delete(grant.id);
          throw error;
        },
      );
      pending.set(grant.id, running);
    }
    return running;
  }

  async function authorize(grant: HttpGrant, target: DpopTarget): Promise<OAuthAuthorization> {
    checkLive();
    const oauth = grant.oauth;
    if (oauth === undefined)
      throw new ErrandError('ERR_OAUTH_TARGET', `grant ${grant.id} has no inject.oauth`);
    // Defense in depth (F6): the token goes only to the origin of the grant it was issued for.
    const htu = dpopHtu(target);
    if (originOf(htu) !== originOf(grant.url)) {
      throw new ErrandError(
        'ERR_OAUTH_TARGET',
        `grant ${grant.id} is for ${originOf(grant.url)}, not ${originOf(htu)}`,
      );
    }
    const { token } = await tokenFor(grant, oauth);
    checkLive();
    if (!oauth.dpop) {
      return {
        headers: { authorization: `Bearer ${token.accessToken}` },
        patterns: spellings([token.accessToken]),
      };
    }
    if (dpopKey === undefined) throw new ErrandError('ERR_OAUTH_WIPED', 'the DPoP key is not there');
    const nonce = nonces.get(`rs ${originOf(htu)}`);
    const proof = await signDpopProof(dpopKey, {
      htm: target.method,
      htu,
      iat: sec(now()),
      jti: newId(),
      ath: dpopAth(token.accessToken),
      ...(nonce !== undefined ? { nonce } : {}),
    });
    return {
      headers: { authorization: `DPoP ${token.accessToken}`, dpop: proof },
      patterns: spellings([token.accessToken, proof]),
      ...(nonce !== undefined ? { nonce } : {}),
    };
  }

  function observe(
    grant: HttpGrant,
    target: DpopTarget,
    reply: UpstreamReply,
    sent: OAuthAuthorization,
  ): 'retry' | 'done' {
    if (grant.oauth === undefined) return 'done';
    // RFC 9449 §8.2: a server may hand out the next nonce on any answer.
    const nonce = readDpopNonce(reply.headers['dpop-nonce']);
    const key = `rs ${originOf(dpopHtu(target))}`;
    if (grant.oauth.dpop && nonce !== undefined && !wiped) nonces.set(key, nonce);
    if (reply.status === 401) {
      if (
        grant.oauth.dpop &&
        nonce !== undefined &&
        nonce !== sent.nonce &&
        isUseDpopNonce(401, reply.headers['www-authenticate'])
      ) {
        return 'retry';
      }
      // RFC 6750 §3.1 invalid_token (revoked, expired early): exchange again on the next request.
      const challenge = String(reply.headers['www-authenticate'] ?? '');
      if (/error\s*=\s*"?invalid_token/i.test(challenge)) tokens.delete(grant.id);
    }
    return 'done';
  }

  return {
    enabled: grants.length > 0,
    async start() {
      if (grants.length === 0) return;
      const dir = secretsDir();
      const names = (pick: (o: OAuthInject) => string | undefined) =>
        [...new Set(grants.map((g) => pick(g.oauth!)).filter((n): n is string => n !== undefined))].sort();
      // Fail before the agent runs: every file must be there and well-formed now.
      for (const name of names((o) => o.subjectToken)) await readTokenFile(dir, name);
      for (const name of names((o) => o.actorToken)) await readTokenFile(dir, name);
      for (const name of names((o) => o.clientKey)) clientKeys.set(name, await readClientKey(dir, name));
      if (grants.some((g) => g.oauth!.dpop)) dpopKey = await generateDpopKey();
    },
    authorize,
    observe,
    async send(grant, target, io) {
      const first = await authorize(grant, target);
      const result = await io.attempt(first);
      if (observe(grant, target, io.reply(result), first) !== 'retry' || !io.canRetry) {
        return { result, patterns: first.patterns, nonceRetry: false };
      }
      await io.discard(result);
      const second = await authorize(grant, target);
      const again = await io.attempt(second);
      observe(grant, target, io.reply(again), second);
      return { result: again, patterns: second.patterns, nonceRetry: true };
    },
    all: () => [...tokens.values()].map((h) => h.token.accessToken),
    thumbprint: () => dpopKey?.thumbprint,
    wipe() {
      wiped = true;
      forgetAll();
      clientKeys.clear();
      dpopKey = undefined;
    },
  };
}
