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
  const problem = findDuplicateOrDeep(text);
  if (problem) return { ok: false, message: problem };
  return { ok: true, value };
}

/** Walks well-formed JSON text (JSON.parse accepted it) tracking member names per object. */
function findDuplicateOrDeep(text: string): string | undefined {
  // One frame per open container: a Set of names for objects, undefined for arrays.
  const stack: (Set<string> | undefined)[] = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') {
      stack.push(c === '{' ? new Set() : undefined);
      if (stack.length > MAX_JSON_DEPTH) return `the body nests deeper than ${MAX_JSON_DEPTH} levels`;
      expectName = c === '{';
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectName = false;
    } else if (c === ',') {
      expectName = stack.at(-1) !== undefined;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (expectName) {
        const name = JSON.parse(text.slice(i, j + 1)) as string;
        const names = stack.at(-1)!;
        if (names.has(name)) return `the member name "${name.slice(0, 64)}" appears twice in one object`;
        names.add(name);
        expectName = false;
      }
      i = j;
    }
  }
  return undefined;
}

export type JsonObject = { [k: string]: JsonValue };

export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
