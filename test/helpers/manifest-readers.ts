// Shared checks for the fast manifest readers (JSON and block YAML) against the YAML reader.

import type { ParseResult } from '../../src/manifest/positions.ts';
import { escapePointer } from '../../src/manifest/positions.ts';

/** Same value, -0 and key order included. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every(
      (k, i) =>
        k === kb[i] && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
    )
  );
}

/** Every pointer into a value, plus pointers past it (a missing member or item, a key under a scalar). */
export function pointersInto(value: unknown, base = ''): string[] {
  if (typeof value !== 'object' || value === null) return [base, `${base}/x`];
  const out = [base, `${base}/zz`, `${base}/7`, `${base}/01`];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value as Record<string, unknown>);
  for (const [k, v] of entries) out.push(...pointersInto(v, `${base}/${escapePointer(k)}`));
  return out;
}

/**
 * Whether a fast reader agrees with the YAML reader on one text: when it accepts, the YAML reader
 * accepts with the same value and positions (keys and values, pointers past the tree); when it
 * refuses, the combined reader (`source`) gives the YAML reader's own result.
 */
export function agreesWithYamlReader(
  fast: Extract<ParseResult, { ok: true }> | undefined,
  yaml: ParseResult,
  source: ParseResult,
): boolean {
  if (fast === undefined) {
    return source.ok && yaml.ok
      ? sameValue(source.value, yaml.value)
      : !source.ok && !yaml.ok && JSON.stringify(source.problems) === JSON.stringify(yaml.problems);
  }
  if (!yaml.ok || !sameValue(fast.value, yaml.value)) return false;
  return pointersInto(fast.value).every((p) =>
    (['key', 'value'] as const).every((at) => {
      const a = fast.locate(p, at);
      const b = yaml.locate(p, at);
      return a.line === b.line && a.column === b.column;
    }),
  );
}

/** What a user of a parse result sees: the value, or the problems. */
export const verdictOf = (result: ParseResult): { ok: boolean; value?: unknown; problems?: unknown } =>
  result.ok ? { ok: true, value: result.value } : { ok: false, problems: result.problems };
