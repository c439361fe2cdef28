// YAML manifest sources read without the general YAML parser when they keep to the plain block
// style manifests are written in: block mappings and sequences indented with spaces, single-line
// plain scalars, single-line flow mappings of plain scalars, whole-line comments. The `yaml`
// package costs a large manifest about 150 ms cold (lexer, CST and composer); this reader walks
// the lines once.
//
// It accepts only what it can read exactly as the YAML reader does (YAML 1.2 core schema,
// https://yaml.org/spec/1.2.2/#103-core-schema): anything else (quotes, anchors, tags, block
// scalars, multi-line scalars, tabs, CR, numbers other than small decimal integers, odd
// indentation, repeated or forbidden keys, nesting past the cap) goes to the YAML reader, which
// reports every problem with its code, message and position as before. Where this reader accepts,
// the YAML reader gives the same value and positions (test/property/manifest-yaml-reader.test.ts).

import {
  FORBIDDEN_KEYS,
  MAX_MANIFEST_BYTES,
  MAX_MANIFEST_DEPTH,
  type ParseResult,
  parseStrict,
  positionOf,
  unescapePointer,
} from './positions.ts';

/** Parse a YAML source strictly, with positions: the block-style reader, else the YAML reader. */
export function parseYamlSource(text: string): ParseResult {
  return readBlockYaml(text) ?? parseStrict(text, { schema: 'core' });
}

/** Where a node starts, and its members or items (a scalar has neither). */
interface Place {
  readonly offset: number;
  readonly members?: ReadonlyMap<string, { readonly key: number; readonly place: Place }>;
  readonly items?: readonly Place[];
}

interface Parsed {
  readonly value: unknown;
  readonly place: Place;
}

interface Line {
  /** Offset of the line's content (after the indentation) in the text. */
  readonly at: number;
  readonly indent: number;
  /** The content, trailing spaces removed. */
  readonly text: string;
}

/** Thrown (and caught in readBlockYaml) when the text leaves the subset this reader handles. */
class Unsupported extends Error {}
const unsupported = (): never => {
  throw new Unsupported();
};

// Characters YAML and this reader agree on: LF, printable ASCII, the BMP without C1 controls, the
// line and paragraph separators, surrogates, the BOM and the non-characters (the YAML reader has
// rules of its own for each of those). Tabs and CR are left to it too.
const OUTSIDE_SUBSET = /[^\n\x20-\x7e\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]/;
const KEY = /^[A-Za-z_$][A-Za-z0-9_$.-]{0,127}$/;
// The core schema's tags (the yaml package's schema/core and schema/common tests).
const NULL_WORD = /^(?:~|[Nn]ull|NULL)$/;
const TRUE_WORD = /^(?:[Tt]rue|TRUE)$/;
const FALSE_WORD = /^(?:[Ff]alse|FALSE)$/;
const NUMBER =
  /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+)$/;
/** A decimal integer a double holds exactly: the only number read here. */
const SMALL_INT = /^(?:0|[1-9][0-9]{0,14})$/;
/** First characters that make a plain scalar something else (YAML 1.2 §5.3 indicators). */
const INDICATOR_START = /^[-?:,[\]{}#&*!|>'"%@`~]/;

/**
 * The value and a locator when `text` is plain block-style YAML this reader reads exactly as the
 * YAML reader does; undefined otherwise.
 */
export function readBlockYaml(text: string): Extract<ParseResult, { ok: true }> | undefined {
  if (Buffer.byteLength(text, 'utf8') > MAX_MANIFEST_BYTES || OUTSIDE_SUBSET.test(text)) return undefined;
  try {
    const reader: Reader = { lines: significantLines(text), next: 0 };
    const first = reader.lines[0];
    if (first === undefined) return undefined;
    const root = readBlock(reader, first.indent, 1);
    if (reader.next !== reader.lines.length) return undefined;
    return {
      ok: true,
      value: root.value,
      locate: (pointer, where = 'value') => positionOf(text, locateOffset(root.place, pointer, where)),
    };
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}

interface Reader {
  readonly lines: readonly Line[];
  next: number;
}

/** Lines with content: blank lines and whole-line comments carry nothing. */
function significantLines(text: string): Line[] {
  const lines: Line[] = [];
  for (let start = 0; start <= text.length; ) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    let indent = 0;
    while (text.charCodeAt(start + indent) === 0x20) indent += 1;
    const content = trimSpaces(text.slice(start + indent, end));
    if (content !== '' && !content.startsWith('#')) {
      // Document markers and directives belong to the YAML reader.
      if (indent === 0 && /^(?:---|\.\.\.|%)/.test(content)) unsupported();
      lines.push({ at: start + indent, indent, text: content });
    }
    start = end + 1;
  }
  return lines;
}

// YAML separates with spaces only (YAML 1.2 §6.1): String.prototype.trim would also cut a no-break
// or an ideographic space, which belong to the scalar.
const leadingSpaces = (text: string): number => {
  let n = 0;
  while (text.charCodeAt(n) === 0x20) n += 1;
  return n;
};

const trimSpaces = (text: string): string => {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x20) end -= 1;
  return text.slice(0, end);
};

const isSequenceEntry = (text: string): boolean => text === '-' || text.startsWith('- ');

/** The block mapping or sequence starting at the reader's line, its entries at column `indent`. */
function readBlock(reader: Reader, indent: number, depth: number): Parsed {
  if (depth > MAX_MANIFEST_DEPTH) unsupported();
  const line = reader.lines[reader.next]!;
  return isSequenceEntry(line.text)
    ? readSequence(reader, indent, depth)
    : readMapping(reader, line, indent, depth);
}

function readSequence(reader: Reader, indent: number, depth: number): Parsed {
  const value: unknown[] = [];
  const items: Place[] = [];
  const offset = reader.lines[reader.next]!.at;
  for (let line = reader.lines[reader.next]; line?.indent === indent && isSequenceEntry(line.text); ) {
    let gap = 1;
    while (line.text.charCodeAt(gap) === 0x20) gap += 1;
    const rest = line.text.slice(gap);
    // "-" alone (the item on the lines below) and "- - x" (a sequence in a sequence) are not read here.
    if (rest === '' || isSequenceEntry(rest)) unsupported();
    const item: Line = { at: line.at + gap, indent: line.indent + gap, text: rest };
    let parsed: Parsed;
    if (splitKey(rest) !== undefined) {
      parsed = readMapping(reader, item, item.indent, depth + 1);
    } else {
      reader.next += 1;
      parsed = readInline(reader, item, indent, depth + 1);
    }
    value.push(parsed.value);
    items.push(parsed.place);
    line = reader.lines[reader.next];
  }
  return { value, place: { offset, items } };
}

/** `key:` or `key: rest`; undefined when the line is not a mapping entry. */
function splitKey(text: string): { key: string; rest: string; gap: number } | undefined {
  const colon = text.indexOf(':');
  if (colon === -1) return undefined;
  const after = text.charCodeAt(colon + 1);
  if (colon + 1 < text.length && after !== 0x20) return undefined;
  const key = text.slice(0, colon);
  if (!isPlainKey(key)) unsupported();
  let gap = colon + 1;
  while (text.charCodeAt(gap) === 0x20) gap += 1;
  return { key, rest: text.slice(gap), gap };
}

/** A key the core schema reads as this very string. */
const isPlainKey = (key: string): boolean =>
  KEY.test(key) &&
  !NULL_WORD.test(key) &&
  !TRUE_WORD.test(key) &&
  !FALSE_WORD.test(key) &&
  !FORBIDDEN_KEYS.has(key);

/** A block mapping whose first entry is `first` (possibly after a sequence dash) at column `indent`. */
function readMapping(reader: Reader, first: Line, indent: number, depth: number): Parsed {
  if (depth > MAX_MANIFEST_DEPTH) unsupported();
  const value: Record<string, unknown> = {};
  const members = new Map<string, { key: number; place: Place }>();
  for (let line: Line | undefined = first; ; ) {
    const entry = splitKey(line.text) ?? unsupported();
    if (members.has(entry.key)) unsupported();
    reader.next += 1;
    let parsed: Parsed;
    if (entry.rest !== '') {
      const inline = { at: line.at + entry.gap, indent: line.indent + entry.gap, text: entry.rest };
      parsed = readInline(reader, inline, indent, depth + 1);
    } else {
      // The value is the block below: deeper, or a sequence at the key's own column (YAML 1.2 §8.2.1).
      const below = reader.lines[reader.next] ?? unsupported();
      if (below.indent < indent || (below.indent === indent && !isSequenceEntry(below.text))) unsupported();
      parsed = readBlock(reader, below.indent, depth + 1);
    }
    value[entry.key] = parsed.value;
    members.set(entry.key, { key: line.at, place: parsed.place });
    line = reader.lines[reader.next];
    if (line === undefined || line.indent < indent) break;
    if (line.indent > indent || isSequenceEntry(line.text)) unsupported();
  }
  return { value, place: { offset: first.at, members } };
}

/**
 * A value on the line of its key or dash: a plain scalar or a one-line flow mapping. A line below
 * indented deeper than the key or dash (`owner`) would continue it, so it is not read here.
 */
function readInline(reader: Reader, line: Line, owner: number, depth: number): Parsed {
  const below = reader.lines[reader.next];
  if (below !== undefined && below.indent > owner) unsupported();
  if (line.text.startsWith('{')) return readFlowMapping(line, depth);
  return { value: plainScalar(line.text, false), place: { offset: line.at } };
}

/** `{ a: b, c: d }` on one line, plain scalars only. */
function readFlowMapping(line: Line, depth: number): Parsed {
  if (depth > MAX_MANIFEST_DEPTH || !line.text.endsWith('}')) unsupported();
  const value: Record<string, unknown> = {};
  const members = new Map<string, { key: number; place: Place }>();
  const body = line.text.slice(1, -1);
  if (trimSpaces(body) !== '') {
    let start = 1;
    for (const entry of body.split(',')) {
      const lead = leadingSpaces(entry);
      const colon = entry.indexOf(': ');
      if (colon === -1) unsupported();
      const key = entry.slice(lead, colon);
      const raw = entry.slice(colon + 2);
      const text = trimSpaces(raw.slice(leadingSpaces(raw)));
      if (!isPlainKey(key) || members.has(key) || text === '' || /[:{}[\]"']/.test(text)) unsupported();
      value[key] = plainScalar(text, true);
      members.set(key, {
        key: line.at + start + lead,
        place: { offset: line.at + start + colon + 2 + leadingSpaces(raw) },
      });
      start += entry.length + 1;
    }
  }
  return { value, place: { offset: line.at, members } };
}

/** A plain scalar as the core schema reads it; numbers other than small integers are not read here. */
function plainScalar(text: string, flow: boolean): unknown {
  if (NULL_WORD.test(text)) return null;
  if (TRUE_WORD.test(text)) return true;
  if (FALSE_WORD.test(text)) return false;
  if (SMALL_INT.test(text)) return Number(text);
  if (NUMBER.test(text) || INDICATOR_START.test(text)) return unsupported();
  // Inside a plain scalar ": " would start a mapping and " #" a comment; a final ":" makes a key.
  if (text.includes(': ') || text.includes(' #') || text.endsWith(':')) return unsupported();
  if (flow && /[,[\]{}]/.test(text)) return unsupported();
  return text;
}

/** The node a JSON pointer names, as the YAML reader finds it (the deepest existing node). */
function locateOffset(root: Place, pointer: string, where: 'key' | 'value'): number {
  const segments = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointer);
  let place = root;
  let offset = root.offset;
  for (const [i, segment] of segments.entries()) {
    if (place.members !== undefined) {
      const member = place.members.get(segment);
      if (member === undefined) break;
      offset = i === segments.length - 1 && where === 'key' ? member.key : member.place.offset;
      place = member.place;
    } else if (place.items !== undefined) {
      const item = /^\d+$/.test(segment) ? place.items[Number(segment)] : undefined;
      if (item === undefined) break;
      offset = item.offset;
      place = item;
    } else {
      break;
    }
  }
  return offset;
}
