// Property: the JSON reader (src/manifest/json-source.ts) and the YAML reader in JSON mode agree.
// For arbitrary JSON-ish texts (random whitespace incl. tabs, CR and CRLF, every escape form,
// repeated names spelled differently, forbidden keys, nesting around the cap, then random
// corruption with JSON's own punctuation):
//   1. whatever the fast reader accepts, the YAML reader accepts with the same value (-0 included)
//      and the same line:column for every key and value, and for pointers past the tree;
//   2. on JSON text with a collection at the top (JSON.parse accepts, no lone CR) both accept or
//      both refuse (a top-level scalar, never a manifest, is left to the YAML reader);
//   3. parseJsonSource gives exactly the YAML reader's result whenever the fast reader refuses.

import fc from 'fast-check';
import t from 'tap';
import { parseJsonSource, readStrictJson } from '../../src/manifest/json-source.ts';
import { MAX_MANIFEST_DEPTH, parseStrict } from '../../src/manifest/positions.ts';
import { agreesWithYamlReader } from '../helpers/manifest-readers.ts';

/** A value with the spelling of each key chosen by the generator (so "a" and "\u0061" can meet). */
type Tree = null | boolean | number | string | Tree[] | { readonly members: readonly [string, Tree][] };

const space = fc.constantFrom('', '', ' ', '  ', '\t', '\n', '\r\n', '\n  ', '\r');
const names = fc.constantFrom(
  'a',
  'b',
  'id',
  'x y',
  '',
  'é',
  '__proto__',
  'constructor',
  'prototype',
  'a/b~c',
);
const strings = fc.oneof(
  fc.constantFrom(
    '',
    'x',
    'arn:aws:s3:::b/k',
    '#not a comment',
    'a: b',
    '- item',
    '\u2028',
    '\ud800',
    '日本',
  ),
  fc.string({ maxLength: 8, unit: 'binary' }),
);
const numbers = fc.constantFrom(
  '0',
  '-0',
  '1',
  '-1',
  '1.5',
  '1e5',
  '1E+2',
  '2e-3',
  '-0.0',
  '123456789012345678901',
  '1.5e400',
);

const tree: fc.Arbitrary<Tree> = fc.letrec<{ node: Tree }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false),
    numbers.map(Number),
    strings,
    fc.array(tie('node'), { maxLength: 4 }),
    fc.array(fc.tuple(names, tie('node')), { maxLength: 4 }).map((members) => ({ members })),
  ),
})).node;

/** Escape one character of a JSON string in one of the forms RFC 8259 §7 allows. */
const spell = (c: string, form: number): string => {
  const code = c.charCodeAt(0);
  const hex = code.toString(16).padStart(4, '0');
  const short: Record<string, string> = {
    '"': '\\"',
    '\\': '\\\\',
    '\n': '\\n',
    '\r': '\\r',
    '\t': '\\t',
    '\b': '\\b',
    '\f': '\\f',
  };
  if (short[c] !== undefined && form % 3 !== 2) return short[c]!;
  if (code < 0x20 || c === '"' || c === '\\' || form % 3 === 2)
    return `\\u${form % 2 === 0 ? hex : hex.toUpperCase()}`;
  if (c === '/' && form % 2 === 1) return '\\/';
  return c;
};

const quote = (s: string, forms: readonly number[]): string =>
  `"${s
    .split('')
    .map((c, i) => spell(c, forms[i % forms.length]!))
    .join('')}"`;

/** Serialize a tree with generated whitespace and escapes. */
function write(
  node: Tree,
  ws: readonly string[],
  forms: readonly number[],
  numberText: readonly string[],
): string {
  let k = 0;
  const w = () => ws[k++ % ws.length]!;
  const go = (n: Tree): string => {
    if (n === null || typeof n === 'boolean') return String(n);
    if (typeof n === 'number') return numberText[k++ % numberText.length] ?? String(n);
    if (typeof n === 'string') return quote(n, forms.slice(k++ % forms.length));
    if (Array.isArray(n)) return `[${w()}${n.map((item) => `${go(item)}${w()}`).join(`,${w()}`)}]`;
    return `{${w()}${n.members.map(([name, v]) => `${quote(name, forms.slice(k++ % forms.length))}${w()}:${w()}${go(v)}`).join(`${w()},${w()}`)}${w()}}`;
  };
  return `${w()}${go(node)}${w()}`;
}

const deep = fc
  .integer({ min: MAX_MANIFEST_DEPTH - 2, max: MAX_MANIFEST_DEPTH + 2 })
  .map((d) => `${'['.repeat(d)}1${']'.repeat(d)}`);

const corrupt = (text: string, edits: readonly [number, number, string][]): string => {
  let out = text;
  for (const [at, drop, insert] of edits) {
    const i = out.length === 0 ? 0 : at % (out.length + 1);
    out = out.slice(0, i) + insert + out.slice(i + drop);
  }
  return out;
};

const texts = fc.oneof(
  fc
    .tuple(
      tree,
      fc.array(space, { minLength: 1, maxLength: 7 }),
      fc.array(fc.nat(5), { minLength: 1, maxLength: 5 }),
    )
    .map(([n, ws, forms]) => write(n, ws, forms, [])),
  fc
    .tuple(
      tree,
      fc.array(space, { minLength: 1 }),
      fc.array(fc.nat(5), { minLength: 1 }),
      fc.array(numbers, { minLength: 1 }),
    )
    .map(([n, ws, forms, nums]) => write(n, ws, forms, nums)),
  deep,
  fc
    .tuple(
      tree,
      fc.array(space, { minLength: 1, maxLength: 4 }),
      fc.array(
        fc.tuple(
          fc.nat(),
          fc.nat(2),
          fc.constantFrom('', ',', ':', '{', '}', '[', ']', '"', '\\', ' ', '#', '\ufeff', '\t', '1.', 'x'),
        ),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
    )
    .map(([n, ws, edits]) => corrupt(write(n, ws, [0], []), edits)),
);

const jsonParses = (text: string): boolean => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

t.test('the JSON reader and the YAML reader in JSON mode agree', async (t) => {
  let accepted = 0;
  let refused = 0;
  fc.assert(
    fc.property(texts, (text) => {
      const fast = readStrictJson(text);
      const yaml = parseStrict(text, { schema: 'json' });
      if (fast === undefined) refused += 1;
      else accepted += 1;
      // On JSON text with a collection at the top (and no lone CR) the verdicts are the same.
      if (
        fast === undefined &&
        yaml.ok &&
        jsonParses(text) &&
        /^[ \t\r\n]*[[{]/.test(text) &&
        !/\r(?!\n)/.test(text)
      )
        return false;
      return agreesWithYamlReader(fast, yaml, parseJsonSource(text));
    }),
    { numRuns: 3000 },
  );
  // A generator that never reaches one side would prove nothing.
  t.ok(accepted > 300, `the fast reader accepted ${accepted} texts`);
  t.ok(refused > 300, `the fast reader refused ${refused} texts`);
});
