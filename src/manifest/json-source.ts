// JSON manifest sources (the JWS payload and header, `.json` files) read without the YAML parser,
// which costs a large manifest over a hundred milliseconds cold. JSON.parse (RFC 8259) makes the
// value; one scan then refuses what JSON.parse forgives and the YAML reader refuses: a repeated
// member name (compared after unescaping), the keys no manifest may hold, nesting past the cap.
// Positions are found only when asked for, by walking the text to the member a pointer names.
//
// Any text this reader does not accept goes to the YAML reader in JSON mode, which reports it: the
// problems, codes, messages and positions stay exactly those of the YAML reader. A text both accept
// gets the same value and the same positions from both (test/property/manifest-json-reader.test.ts).

import { endOfJsonString, findJsonStructureProblem } from '../classify/strict-json.ts';
import {
  FORBIDDEN_KEYS,
  MAX_MANIFEST_BYTES,
  MAX_MANIFEST_DEPTH,
  type ParseResult,
  parseStrict,
  positionOf,
  unescapePointer,
} from './positions.ts';

/** Parse a JSON source strictly, with positions: the fast reader, else the YAML reader's verdict. */
export function parseJsonSource(text: string): ParseResult {
  return readStrictJson(text) ?? parseStrict(text, { schema: 'json' });
}

/**
 * The value and a locator when `text` is strict JSON the YAML reader accepts the same way; undefined
 * otherwise (then the YAML reader says what is wrong).
 */
export function readStrictJson(text: string): Extract<ParseResult, { ok: true }> | undefined {
  if (Buffer.byteLength(text, 'utf8') > MAX_MANIFEST_BYTES) return undefined;
  // YAML reads a lone CR as a space inside a plain scalar, JSON as whitespace; a CR before LF is one
  // line break to both. A CR is whitespace only in JSON text (never raw inside a string).
  if (/\r(?!\n)/.test(text)) return undefined;
  // Only a collection: YAML refuses some scalars JSON accepts (a tab before a top-level scalar),
  // and a manifest or JWS payload is an object anyway.
  const first = text.charCodeAt(skipSpace(text, 0));
  if (first !== 0x7b && first !== 0x5b) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const refused = (name: string) => FORBIDDEN_KEYS.has(name);
  if (findJsonStructureProblem(text, MAX_MANIFEST_DEPTH, refused) !== undefined) return undefined;
  return {
    ok: true,
    value,
    locate: (pointer, where = 'value') => positionOf(text, locateOffset(text, pointer, where)),
  };
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

const skipSpace = (text: string, i: number): number => {
  let j = i;
  while (isSpace(text.charCodeAt(j))) j += 1;
  return j;
};

/** Index just past the value starting at `i`, in well-formed JSON text. */
function endOfValue(text: string, i: number): number {
  const first = text.charCodeAt(i);
  if (first === 0x22) return endOfJsonString(text, i) + 1;
  let j = i;
  if (first !== 0x7b && first !== 0x5b) {
    // A number or a literal: it ends at a delimiter or the end of the text.
    for (let c = first; j < text.length && !isSpace(c) && c !== 0x2c && c !== 0x5d && c !== 0x7d; ) {
      j += 1;
      c = text.charCodeAt(j);
    }
    return j;
  }
  let depth = 0;
  for (;;) {
    const c = text.charCodeAt(j);
    if (c === 0x22) {
      j = endOfJsonString(text, j) + 1;
      continue;
    }
    j += 1;
    if (c === 0x7b || c === 0x5b) depth += 1;
    else if ((c === 0x7d || c === 0x5d) && --depth === 0) return j;
  }
}

/** Offset of the member named `name` in the object opening at `open`, key and value; undefined if absent. */
function findMember(text: string, open: number, name: string): { key: number; value: number } | undefined {
  let i = skipSpace(text, open + 1);
  while (text.charCodeAt(i) === 0x22) {
    const keyEnd = endOfJsonString(text, i);
    const raw = text.slice(i + 1, keyEnd);
    const key = raw.includes('\\') ? (JSON.parse(text.slice(i, keyEnd + 1)) as string) : raw;
    const value = skipSpace(text, skipSpace(text, keyEnd + 1) + 1);
    if (key === name) return { key: i, value };
    i = skipSpace(text, endOfValue(text, value));
    if (text.charCodeAt(i) !== 0x2c) return undefined;
    i = skipSpace(text, i + 1);
  }
  return undefined;
}

/** Offset of item `index` of the array opening at `open`; undefined past its end. */
function findItem(text: string, open: number, index: number): number | undefined {
  let i = skipSpace(text, open + 1);
  if (text.charCodeAt(i) === 0x5d) return undefined;
  for (let k = 0; k < index; k += 1) {
    i = skipSpace(text, endOfValue(text, i));
    if (text.charCodeAt(i) !== 0x2c) return undefined;
    i = skipSpace(text, i + 1);
  }
  return i;
}

/**
 * Offset of the node a JSON pointer names, as the YAML reader finds it: when the pointer runs past
 * the tree (a missing key), the deepest existing node, so a "missing key" problem points at its parent.
 */
function locateOffset(text: string, pointer: string, where: 'key' | 'value'): number {
  const segments = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointer);
  let offset = skipSpace(text, 0);
  for (const [i, segment] of segments.entries()) {
    const c = text.charCodeAt(offset);
    if (c === 0x7b) {
      const member = findMember(text, offset, segment);
      if (member === undefined) break;
      offset = i === segments.length - 1 && where === 'key' ? member.key : member.value;
    } else if (c === 0x5b) {
      const item = /^\d+$/.test(segment) ? findItem(text, offset, Number(segment)) : undefined;
      if (item === undefined) break;
      offset = item;
    } else {
      break;
    }
  }
  return offset;
}
