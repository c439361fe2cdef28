// The little of oidc-provider (a test-only dev dependency, shipped without types) the OAuth tests use:
// the Provider, and the grant helpers its own built-in grants are made of, which a custom grant type
// (RFC 8693 token exchange) reuses so DPoP, resource indicators and token building stay the library's.

declare module 'oidc-provider' {
  export interface OidcContext {
    readonly oidc: {
      readonly params: Record<string, unknown>;
      readonly client: { readonly clientId: string };
      entity(name: string, value: unknown): void;
    };
    body: unknown;
    get(name: string): string;
  }
  export interface AccessTokenLike {
    jkt?: string;
    resourceServer?: unknown;
    scope?: string;
    readonly tokenType: string;
    readonly expiration: number;
    readonly rar?: unknown;
    setThumbprint(kind: 'jkt', value: string): void;
    save(): Promise<string>;
  }
  export class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    readonly issuer: string;
    readonly ClientCredentials: new (init: {
      client: unknown;
      scope?: string | undefined;
    }) => AccessTokenLike;
    registerGrantType(
      name: string,
      handler: (ctx: OidcContext) => Promise<void>,
      params: Iterable<string>,
      dupes?: Iterable<string>,
    ): void;
    callback(): (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): void;
  }
  export const errors: {
    readonly InvalidGrant: new (description?: string) => Error;
    readonly InvalidTarget: new (description?: string) => Error;
  };
  export default Provider;
}

declare module 'oidc-provider/lib/helpers/grants.js' {
  import type { AccessTokenLike, OidcContext, Provider } from 'oidc-provider';
  export function validateDpop(
    provider: Provider,
    ctx: OidcContext,
  ): Promise<{ thumbprint: string; jti: string; iat: number } | undefined>;
  export function checkDpopReplay(
    provider: Provider,
    ctx: OidcContext,
    dpop: { thumbprint: string; jti: string; iat: number },
    clientId: string,
  ): Promise<void>;
  export function checkDpopRequired(
    provider: Provider,
    ctx: OidcContext,
    dpop: { thumbprint: string } | undefined,
  ): void;
  export function resolveRequestedResources(
    provider: Provider,
    ctx: OidcContext,
  ): Promise<{ scope: string; audience: string }[]>;
  export function validateClientScope(provider: Provider, ctx: OidcContext): Set<string>;
  export function applyAuthorizationDetails(
    provider: Provider,
    ctx: OidcContext,
    token: AccessTokenLike,
  ): Promise<void>;
  export function buildTokenResponse(
    provider: Provider,
    fields: {
      accessToken: string;
      expiresIn: number;
      scope?: string | undefined;
      tokenType: string;
      issuedTokenType: string;
      authorizationDetails?: unknown;
    },
  ): Record<string, unknown>;
}
