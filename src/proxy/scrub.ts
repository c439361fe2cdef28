import { Transform } from 'node:stream';

// What an upstream reflects back must not hand the agent the credential Errand injected
// (SECURITY-CASES F3, K3: httpbin-style echo endpoints, error pages quoting the request, TRACE).
// Response headers are scrubbed value by value; bodies are scrubbed as a stream with a bounded
// carry-over of (longest pattern − 1) bytes, so an echo split across chunks is still caught and
// memory stays flat whatever the body size.

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

function replaceAll(buf: Buffer, patterns: readonly Buffer[], redacted: Buffer): Buffer {
  let out = buf;
  for (const p of patterns) {
    let at = out.indexOf(p);
    if (at === -1) continue;
    const parts: Buffer[] = [];
    let from = 0;
    while (at !== -1) {
      parts.push(out.subarray(from, at), redacted);
      from = at + p.length;
      at = out.indexOf(p, from);
    }
    parts.push(out.subarray(from));
    out = Buffer.concat(parts);
  }
  return out;
}

/** A byte stream with every pattern replaced by `[redacted]`. Counts replacements for the audit. */
export function createScrubber(patterns: readonly string[]): Transform & { readonly replaced: number } {
  const needles = patterns.map((p) => Buffer.from(p, 'utf8'));
  const redacted = Buffer.from(REDACTED);
  const keep = Math.max(0, ...needles.map((n) => n.length)) - 1;
  let tail = Buffer.alloc(0);
  let replaced = 0;
  const count = (b: Buffer) => {
    for (const n of needles) {
      let at = b.indexOf(n);
      while (at !== -1) {
        replaced++;
        at = b.indexOf(n, at + n.length);
      }
    }
  };
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const joined = Buffer.concat([tail, chunk]);
      count(joined);
      const clean = replaceAll(joined, needles, redacted);
      // An occurrence starting before the last `keep` bytes ended inside `joined`: already replaced.
      const cut = Math.max(0, clean.length - keep);
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
