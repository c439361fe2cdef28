import { Transform } from 'node:stream';

// What an upstream reflects back must not hand the agent the credential Errand injected
// (SECURITY-CASES F3, K3: httpbin-style echo endpoints, error pages quoting the request, TRACE).
// Response headers are scrubbed value by value; bodies are scrubbed as a stream that holds back only
// a trailing partial match (at most the longest pattern − 1 bytes), so an echo split across chunks
// is still caught, memory stays flat whatever the body size, and streams are not delayed.

export const REDACTED = '[redacted]';
/** Secrets shorter than this cannot be scrubbed without mangling ordinary text. */
export const MIN_SECRET_LENGTH = 8;

/** The spellings of a secret an upstream is likely to echo: raw, percent-encoded, base64, and the
 *  whole injected header value. Longest first, so a containing spelling is replaced whole. */
export function scrubPatterns(secret: string, injectedValue: string): readonly string[] {
  const forms = new Set([
    injectedValue,
    secret,
    encodeURIComponent(secret),
    Buffer.from(secret).toString('base64'),
    JSON.stringify(secret).slice(1, -1),
  ]);
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

/** Replaces every pattern in a header value or short text. */
export function scrubText(text: string, patterns: readonly string[]): string {
  let out = text;
  for (const p of patterns) if (out.includes(p)) out = out.split(p).join(REDACTED);
  return out;
}

/** Replaces every occurrence of each pattern; returns `buf` itself (no copy) when none occurs. */
function replaceAll(
  buf: Buffer,
  patterns: readonly Buffer[],
  replacementOf: (p: Buffer) => Buffer,
): { readonly out: Buffer; readonly count: number } {
  let out = buf;
  let count = 0;
  for (const p of patterns) {
    let at = out.indexOf(p);
    if (at === -1) continue;
    const redacted = replacementOf(p);
    const parts: Buffer[] = [];
    let from = 0;
    while (at !== -1) {
      count++;
      parts.push(out.subarray(from, at), redacted);
      from = at + p.length;
      at = out.indexOf(p, from);
    }
    parts.push(out.subarray(from));
    out = Buffer.concat(parts);
  }
  return { out, count };
}

/** A byte stream with every pattern replaced by `[redacted]` (or, with `sameLength`, by as many
 *  `*` as it has bytes: framed streams such as WebSocket keep their frame lengths). Counts
 *  replacements for the audit. */
export function createScrubber(
  patterns: readonly string[],
  opts: { sameLength?: boolean } = {},
): Transform & { readonly replaced: number } {
  const needles = patterns.map((p) => Buffer.from(p, 'utf8'));
  const redacted = Buffer.from(REDACTED);
  const replacementOf = (p: Buffer): Buffer => (opts.sameLength ? Buffer.alloc(p.length, '*') : redacted);
  /** Bytes at the end of `b` that could be the start of a pattern: held back until more arrives.
   *  Only positions holding a pattern's first byte are compared. */
  const heldBack = (b: Buffer): number => {
    let keep = 0;
    for (const n of needles) {
      // A partial match starts within the last n.length - 1 bytes and is longer than `keep`.
      const last = b.length - keep - 1;
      let at = b.indexOf(n[0]!, Math.max(0, b.length - n.length + 1));
      while (at !== -1 && at <= last) {
        if (b.subarray(at).equals(n.subarray(0, b.length - at))) {
          keep = b.length - at;
          break;
        }
        at = b.indexOf(n[0]!, at + 1);
      }
    }
    return keep;
  };
  const empty = Buffer.alloc(0);
  let tail = empty;
  let replaced = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      // A chunk is copied only when a held-back tail must go in front of it or a pattern is
      // replaced in it; otherwise it passes through as it came.
      const joined = tail.length === 0 ? chunk : Buffer.concat([tail, chunk]);
      const { out: clean, count } = replaceAll(joined, needles, replacementOf);
      replaced += count;
      // Every whole occurrence is replaced; one that is not whole yet is a suffix of `clean` that is
      // a prefix of a pattern, and only that is held back. Nothing else waits, so streams (server-sent
      // events, WebSocket) are not delayed.
      const keep = heldBack(clean);
      if (keep === 0) {
        tail = empty;
        done(null, clean);
        return;
      }
      const cut = clean.length - keep;
      tail = Buffer.from(clean.subarray(cut));
      done(null, clean.subarray(0, cut));
    },
    flush(done) {
      done(null, tail);
    },
  });
  return Object.defineProperty(stream, 'replaced', { get: () => replaced }) as Transform & {
    readonly replaced: number;
  };
}
