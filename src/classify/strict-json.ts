// JSON for classification: RFC 8259 via JSON.parse, plus what JSON.parse forgives and a service's
// parser might read differently (Bishop Fox, "An Exploration of JSON Interoperability
// Vulnerabilities"): a repeated member name (JSON.parse keeps the last, others the first) is
// refused, names compared after unescaping ("a" and "\u0061" are the same name); so is a body that
// is not valid UTF-8 or starts with a byte-order mark, and nesting deeper than a bound.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

export const MAX_JSON_DEPTH = 128;

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses a request body as strict JSON; a message says what is wrong. */
export function parseStrictJson(
  body: Uint8Array,
): { ok: true; value: JsonValue } | { ok: false; message: string } {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return { ok: false, message: 'the body is not valid UTF-8' };
  }
  if (text.charCodeAt(0) === 0xfeff) return { ok: false, message: 'the body starts with a byte-order mark' };
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch {
    return { ok: false, message: 'the body is not well-formed JSON' };
  }
  const problem = findJsonStructureProblem(text, MAX_JSON_DEPTH);
  if (problem === undefined) return { ok: true, value };
  return {
    ok: false,
    message:
      problem.kind === 'deep'
        ? `the body nests deeper than ${MAX_JSON_DEPTH} levels`
        : `the member name "${problem.name.slice(0, 64)}" appears twice in one object`,
  };
}

/** What a structure scan found in well-formed JSON text; the first problem only. */
export type JsonStructureProblem =
  | { readonly kind: 'deep' }
  | { readonly kind: 'duplicate'; readonly name: string }
  | { readonly kind: 'refused'; readonly name: string };

/**
 * Index of the quote that closes the JSON string opening at `open`, in well-formed JSON text: the
 * next quote not escaped by an odd run of backslashes. indexOf jumps over the string's content.
 */
export function endOfJsonString(text: string, open: number): number {
  let end = text.indexOf('"', open + 1);
  for (;;) {
    let slashes = 0;
    while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes += 1;
    if (slashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

/**
 * Walks JSON text that JSON.parse accepted, tracking member names per object (compared after
 * unescaping): reports nesting deeper than `maxDepth`, a repeated name, or a name `refuse` rejects.
 */
export function findJsonStructureProblem(
  text: string,
  maxDepth: number,
  refuse?: (name: string) => boolean,
): JsonStructureProblem | undefined {
  // One frame per open container: a Set of names for objects, undefined for arrays.
  const stack: (Set<string> | undefined)[] = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = endOfJsonString(text, i);
      if (expectName) {
        const raw = text.slice(i + 1, end);
        const name = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        const names = stack.at(-1)!;
        if (names.has(name)) return { kind: 'duplicate', name };
        if (refuse?.(name) === true) return { kind: 'refused', name };
        names.add(name);
        expectName = false;
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      stack.push(c === 0x7b ? new Set() : undefined);
      if (stack.length > maxDepth) return { kind: 'deep' };
      expectName = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      expectName = false;
    } else if (c === 0x2c) {
      expectName = stack.at(-1) !== undefined;
    }
  }
  return undefined;
}

export type JsonObject = { [k: string]: JsonValue };

export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
