// The one normalized form of an agent's request. The front builds it once from the parsed bytes;
// classification, authorization, signing and the upstream request are all built from this value and
// nothing else ("what is authorized is what is sent").

export type Listener = 'aws' | 'forward' | 'connect' | 'transparent';

export interface NormalizedRequest {
  /** Errand's request id, also the audit record id. */
  readonly id: string;
  readonly listener: Listener;
  /** Upper-case token, as sent (the parser already refused lower-case and odd tokens). */
  readonly method: string;
  /** The scheme of the origin the agent asked for (endpoint listener: the upstream's). */
  readonly scheme: 'http' | 'https';
  /** Lower-case host, one trailing dot removed, IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  /** The path exactly as received, percent-encoding untouched, starting with '/'. */
  readonly rawPath: string;
  /** The query exactly as received, without '?'; '' when there is none. */
  readonly rawQuery: string;
  /** The query decoded once (application/x-www-form-urlencoded rules are NOT used: '+' stays '+'), in order. */
  readonly query: readonly (readonly [string, string])[];
  /** Lower-case names. Duplicates of any header Errand interprets or signs were refused by the front. */
  readonly headers: ReadonlyMap<string, string>;
}
