// Typed, pre-parsed view of aws-routes.generated.json (derived from the official Smithy models by
// scripts/gen-aws-routes.ts). Built once at import; every value is frozen.

import table from './aws-routes.generated.json' with { type: 'json' };

export type RouteProtocol = 'restXml' | 'restJson1' | 'awsJson1_0' | 'awsJson1_1' | 'awsQuery';

export type Segment = { readonly literal: string } | { readonly label: string; readonly greedy: boolean };

export interface Operation {
  readonly name: string;
  /** REST protocols only. */
  readonly method?: string;
  /** Path template segments (REST only); `[]` is the service root `/`. */
  readonly segments?: readonly Segment[];
  /** Query literals from the URI template, `x-id` removed (it never decides the operation). */
  readonly queryLiterals: readonly (readonly [string, string])[];
  /** httpQuery members: key → required. */
  readonly query: ReadonlyMap<string, boolean>;
  /** httpHeader members: lower-case name → required. */
  readonly headers: ReadonlyMap<string, boolean>;
  readonly prefixHeaders: readonly string[];
  /** JSON / query protocols: input members that can name a resource → required. */
  readonly members: ReadonlyMap<string, boolean>;
  /** Its IAM action takes no resource (`*`). */
  readonly unscoped: boolean;
}

export interface Service {
  readonly signingName: string;
  readonly endpointPrefix: string;
  readonly arnNamespace: string;
  readonly protocol: RouteProtocol;
  readonly apiVersion: string;
  readonly targetPrefix?: string;
  /** Sorted by name. */
  readonly operations: ReadonlyMap<string, Operation>;
}

interface RawOperation {
  readonly http?: readonly string[];
  readonly query?: Readonly<Record<string, boolean>>;
  readonly headers?: Readonly<Record<string, boolean>>;
  readonly prefixHeaders?: readonly string[];
  readonly members?: Readonly<Record<string, boolean>>;
  readonly unscoped?: boolean;
}

/** Splits a Smithy URI template (`/{Bucket}/{Key+}?x-id=GetObject`) into segments and query
 *  literals (Smithy `http` trait: https://smithy.io/2.0/spec/http-bindings.html#http-trait). */
export function parseUriTemplate(uri: string): {
  segments: Segment[];
  queryLiterals: [string, string][];
} {
  const q = uri.indexOf('?');
  const path = q === -1 ? uri : uri.slice(0, q);
  const query = q === -1 ? '' : uri.slice(q + 1);
  const segments: Segment[] = path
    .split('/')
    .slice(1)
    .filter((s) => s !== '')
    .map((s) => {
      const m = /^\{([A-Za-z0-9_]+)(\+?)\}$/.exec(s);
      return m ? { label: m[1]!, greedy: m[2] === '+' } : { literal: s };
    });
  const queryLiterals: [string, string][] = query
    .split('&')
    .filter((p) => p !== '')
    .map((p): [string, string] => {
      const eq = p.indexOf('=');
      return eq === -1 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)];
    })
    .filter(([k]) => k !== 'x-id');
  return { segments, queryLiterals };
}

function buildOperation(name: string, raw: RawOperation): Operation {
  const parsed = raw.http ? parseUriTemplate(raw.http[1]!) : undefined;
  return Object.freeze({
    name,
    ...(raw.http ? { method: raw.http[0]!, segments: Object.freeze(parsed!.segments) } : {}),
    queryLiterals: Object.freeze(parsed?.queryLiterals ?? []),
    query: new Map(Object.entries(raw.query ?? {})),
    headers: new Map(Object.entries(raw.headers ?? {})),
    prefixHeaders: Object.freeze([...(raw.prefixHeaders ?? [])]),
    members: new Map(Object.entries(raw.members ?? {})),
    unscoped: raw.unscoped === true,
  });
}

function buildServices(): ReadonlyMap<string, Service> {
  const services = new Map<string, Service>();
  for (const [id, raw] of Object.entries(table.services)) {
    const operations = new Map<string, Operation>();
    for (const [name, op] of Object.entries(raw.operations as Record<string, RawOperation>)) {
      operations.set(name, buildOperation(name, op));
    }
    const targetPrefix = (raw as { targetPrefix?: string }).targetPrefix;
    services.set(
      id,
      Object.freeze({
        signingName: raw.signingName,
        endpointPrefix: raw.endpointPrefix,
        arnNamespace: raw.arnNamespace,
        protocol: raw.protocol as RouteProtocol,
        apiVersion: raw.apiVersion,
        ...(targetPrefix !== undefined ? { targetPrefix } : {}),
        operations,
      }),
    );
  }
  return services;
}

/** Services by SigV4 signing name. */
export const AWS_SERVICES: ReadonlyMap<string, Service> = buildServices();

/** The routing table's provenance (model repository and commit). */
export const AWS_ROUTES_SOURCE: string = table.source;
