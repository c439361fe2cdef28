// Strict YAML/JSON parsing with source positions. A manifest is a small, flat document: anything a
// YAML parser can do beyond plain mappings, sequences and scalars (tags, deep nesting, alias
// expansion, non-string keys, duplicate keys) is refused here, before any value reaches the schema.
// YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#103-core-schema), so `yes`/`no` stay strings.

import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  type Node,
  parseDocument,
} from 'yaml';
import type { ErrorCode } from '../errors.ts';

/** Largest manifest source accepted, in bytes. A real manifest is a few KiB. */
export const MAX_MANIFEST_BYTES = 256 * 1024;
/** Deepest nesting of mappings and sequences; a manifest needs 6. */
export const MAX_MANIFEST_DEPTH = 16;
/** Most alias nodes (`*name`) in one document; bounds expansion (billion laughs). */
export const MAX_YAML_ALIASES = 16;

/** Keys that reach Object.prototype machinery in some consumer; never legitimate in a manifest. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export interface Position {
  readonly line: number;
  readonly column: number;
}

/** A parse problem before paths exist: a code, a message, a position and an optional JSON pointer. */
export interface ParseProblem {
  readonly code: ErrorCode;
  readonly path: string;
  readonly position: Position;
  readonly message: string;
  readonly fix?: string;
}

export type ParseResult =
  | {
      readonly ok: true;
      readonly value: unknown;
      readonly locate: (pointer: string, at?: 'key' | 'value') => Position;
    }
  | { readonly ok: false; readonly problems: readonly ParseProblem[] };

export interface ParseOptions {
  /** 'core' for manifest sources (YAML or JSON); 'json' for JWS payloads, which must be JSON. */
  readonly schema: 'core' | 'json';
}

/** Escape one JSON pointer segment (RFC 6901 §3). */
export const escapePointer = (segment: string | number): string =>
  String(segment).replaceAll('~', '~0').replaceAll('/', '~1');

export const unescapePointer = (segment: string): string =>
  segment.replaceAll('~1', '/').replaceAll('~0', '~');

/** Parse `text` strictly; return the plain value and a locator, or every problem found. */
export function parseStrict(text: string, options: ParseOptions): ParseResult {
  const lineCounter = new LineCounter();
  const at = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_MANIFEST_BYTES) {
    return {
      ok: false,
      problems: [
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '',
          position: { line: 1, column: 1 },
          message: `the source is ${bytes} bytes; the limit is ${MAX_MANIFEST_BYTES}`,
          fix: 'a manifest names one task: split unrelated work into separate tasks',
        },
      ],
    };
  }
  // The parser recurses on flow collections; count their depth with the (iterative) lexer first.
  const tooDeep = findExcessFlowNesting(text);
  if (tooDeep !== undefined) {
    return {
      ok: false,
      problems: [
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '',
          position: positionOf(text, tooDeep),
          message: `nesting is deeper than ${MAX_MANIFEST_DEPTH} levels`,
        },
      ],
    };
  }
  const doc = parseDocument(text, {
    lineCounter,
    schema: options.schema,
    uniqueKeys: true,
    strict: true,
    prettyErrors: false,
    resolveKnownTags: false,
    customTags: [],
  });
  const problems: ParseProblem[] = [];
  // The parser recurses on block nesting too; on a small stack the overflow surfaces as parse
  // errors (one per place it hit). Report it once, as the size problem it is.
  const overflow = doc.errors.find((e) => /call stack|stack overflow/i.test(e.message));
  if (overflow !== undefined) {
    return {
      ok: false,
      problems: [
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '',
          position: at(overflow.pos[0]),
          message: `nesting is deeper than ${MAX_MANIFEST_DEPTH} levels`,
        },
      ],
    };
  }
  for (const error of doc.errors) {
    const message = error.message.replace(/ at line \d+, column \d+.*$/s, '');
    problems.push({
      code: 'ERR_MANIFEST_SYNTAX',
      path: '',
      position: at(error.pos[0]),
      message:
        error.code === 'DUPLICATE_KEY'
          ? 'duplicate key: a key may appear only once in a mapping'
          : error.code === 'MULTIPLE_DOCS'
            ? 'the source holds more than one YAML document'
            : message,
      ...(error.code === 'DUPLICATE_KEY' ? { fix: 'remove one of the two entries' } : {}),
      ...(error.code === 'MULTIPLE_DOCS' ? { fix: 'keep one document: remove the extra ---' } : {}),
    });
  }
  if (problems.length > 0) return { ok: false, problems: dedupe(problems) };
  // %YAML 1.1 would invite 1.1 readings (yes/no booleans, merge keys) in other tools; %TAG only
  // serves tags, which are refused below.
  const directives = doc.directives;
  if (directives !== undefined && (directives.yaml.explicit || Object.keys(directives.tags).length > 1)) {
    problems.push({
      code: 'ERR_MANIFEST_SYNTAX',
      path: '',
      position: { line: 1, column: 1 },
      message: 'YAML directives (%YAML, %TAG) are not allowed',
      fix: 'remove the directive lines; manifests are YAML 1.2',
    });
  }
  problems.push(...inspectTree(doc, at));
  if (problems.length > 0) return { ok: false, problems };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch {
    return {
      ok: false,
      problems: [
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '',
          position: { line: 1, column: 1 },
          message: 'aliases expand to more content than the limit allows',
          fix: 'write the values out instead of repeating anchors',
        },
      ],
    };
  }
  return { ok: true, value, locate: (pointer, where = 'value') => locateIn(doc, pointer, where, at) };
}

/** Lexer tokens that mark structure but stand for no source text (yaml's CST control characters). */
const CONTROL_TOKENS: ReadonlySet<string> = new Set(['\u0002', '\u0018', '\u001f']);

/**
 * Whether the flow nesting is certainly within the cap without lexing: lexing costs as much as a
 * third of the parse, and a manifest rarely nests flow collections at all. True when the source
 * opens at most MAX_MANIFEST_DEPTH flow collections in all, or when it is JSON (which a string-aware
 * bracket count measures exactly) nested no deeper than the cap.
 */
function flowNestingWithinCap(text: string): boolean {
  let opens = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) opens += 1;
  }
  if (opens <= MAX_MANIFEST_DEPTH) return true;
  try {
    JSON.parse(text);
  } catch {
    return false;
  }
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > MAX_MANIFEST_DEPTH) return false;
    } else if (c === 0x5d || c === 0x7d) {
      depth -= 1;
    }
  }
  return true;
}

/** Offset of the first flow collection opened deeper than the cap, or undefined. */
function findExcessFlowNesting(text: string): number | undefined {
  if (flowNestingWithinCap(text)) return undefined;
  let depth = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') {
      depth += 1;
      if (depth > MAX_MANIFEST_DEPTH) return offset;
    } else if (token === ']' || token === '}') {
      depth -= 1;
    }
    if (!CONTROL_TOKENS.has(token)) offset += token.length;
  }
  return undefined;
}

/** 1-based line and column (UTF-16 units) of an offset; lines end at LF, as the YAML reader counts. */
export const positionOf = (text: string, offset: number): Position => {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: offset - lineStart + 1 };
};

const dedupe = (problems: readonly ParseProblem[]): ParseProblem[] => {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.position.line}:${p.position.column}:${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
};

/** Walk the node tree iteratively (no recursion on attacker-controlled depth). */
function inspectTree(doc: Document, at: (offset: number) => Position): ParseProblem[] {
  const problems: ParseProblem[] = [];
  const stack: { node: unknown; depth: number; path: string }[] = [
    { node: doc.contents, depth: 0, path: '' },
  ];
  let aliases = 0;
  while (stack.length > 0) {
    const { node, depth, path } = stack.pop()!;
    if (node === null || node === undefined) continue;
    const n = node as Node;
    const offset = n.range?.[0] ?? 0;
    if (isAlias(n)) {
      aliases += 1;
      if (aliases === MAX_YAML_ALIASES + 1) {
        problems.push({
          code: 'ERR_MANIFEST_TOO_LARGE',
          path,
          position: at(offset),
          message: `more than ${MAX_YAML_ALIASES} aliases`,
          fix: 'write the values out instead of repeating anchors',
        });
      }
      continue;
    }
    if (n.tag !== undefined) {
      problems.push({
        code: 'ERR_MANIFEST_SYNTAX',
        path,
        position: at(offset),
        message: `explicit tag ${JSON.stringify(n.tag)} is not allowed`,
        fix: 'remove the tag; quote the value if it must be a string',
      });
    }
    if (!isMap(n) && !isSeq(n)) continue;
    if (depth >= MAX_MANIFEST_DEPTH) {
      problems.push({
        code: 'ERR_MANIFEST_TOO_LARGE',
        path,
        position: at(offset),
        message: `nesting is deeper than ${MAX_MANIFEST_DEPTH} levels`,
      });
      continue;
    }
    if (isSeq(n)) {
      n.items.forEach((item, i) => {
        stack.push({ node: item, depth: depth + 1, path: `${path}/${i}` });
      });
      continue;
    }
    for (const pair of n.items) {
      if (!isPair(pair)) continue;
      const key = pair.key as Node | null;
      const keyOffset = key?.range?.[0] ?? offset;
      if (!isScalar(key) || typeof key.value !== 'string') {
        problems.push({
          code: 'ERR_MANIFEST_SYNTAX',
          path,
          position: at(keyOffset),
          message: 'mapping keys must be plain strings',
          fix: 'use a string key; complex, numeric, boolean and null keys are not allowed',
        });
        continue;
      }
      if (key.tag !== undefined) {
        problems.push({
          code: 'ERR_MANIFEST_SYNTAX',
          path,
          position: at(keyOffset),
          message: `explicit tag ${JSON.stringify(key.tag)} is not allowed`,
          fix: 'remove the tag',
        });
      }
      const keyPath = `${path}/${escapePointer(key.value)}`;
      if (FORBIDDEN_KEYS.has(key.value)) {
        problems.push({
          code: 'ERR_MANIFEST_INVALID',
          path: keyPath,
          position: at(keyOffset),
          message: `key ${JSON.stringify(key.value)} is not allowed`,
          fix: 'remove the key: it is never part of a manifest',
        });
        continue;
      }
      stack.push({ node: pair.value, depth: depth + 1, path: keyPath });
    }
  }
  return problems.sort((a, b) => a.position.line - b.position.line || a.position.column - b.position.column);
}

/**
 * Position of the node a JSON pointer names. When the pointer runs past the tree (a missing key),
 * the deepest existing node is used, so a "missing key" problem points at its parent.
 */
function locateIn(
  doc: Document,
  pointer: string,
  where: 'key' | 'value',
  at: (offset: number) => Position,
): Position {
  const segments = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointer);
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === segment);
      if (!pair) break;
      const keyOffset = (pair.key as Node).range?.[0];
      const valueOffset = (pair.value as Node | null)?.range?.[0];
      offset = last && where === 'key' ? (keyOffset ?? offset) : (valueOffset ?? keyOffset ?? offset);
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(segment)] as Node | undefined;
      if (!/^\d+$/.test(segment) || item === undefined) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return at(offset);
}
