// Property: the block-style YAML reader (src/manifest/yaml-source.ts) reads a text only when the
// YAML reader reads it the same way. For arbitrary block YAML (indentation from one to four
// spaces, sequences indented or not under their key, compact mappings after dashes, one-line flow
// mappings, comments, blank lines, trailing spaces, scalars that the core schema reads as null,
// booleans, numbers or strings, indicator characters, Unicode spaces at either end, repeated and forbidden keys, nesting around
// the cap), then random corruption:
//   1. whatever the block reader accepts, the YAML reader accepts with the same value and the same
//      line:column for every key and value, and for pointers past the tree;
//   2. parseYamlSource gives exactly the YAML reader's result whenever the block reader refuses.

import fc from 'fast-check';
import t from 'tap';
import { MAX_MANIFEST_DEPTH, parseStrict } from '../../src/manifest/positions.ts';
import { parseYamlSource, readBlockYaml } from '../../src/manifest/yaml-source.ts';
import { agreesWithYamlReader } from '../helpers/manifest-readers.ts';

type Tree = string | Tree[] | { readonly members: readonly [string, Tree][]; readonly flow: boolean };

const keys = fc.constantFrom(
  'a',
  'b',
  'id',
  'apiVersion',
  '$schema',
  'x-y',
  'a.b',
  '_k',
  'true',
  'Null',
  '1',
  'a b',
  '__proto__',
  'constructor',
  'k#',
  '-k',
);
const scalars = fc.oneof(
  fc.constantFrom(
    'x',
    'two words',
    'arn:aws:s3:::bucket/key',
    'arn:aws:s3:::',
    's3:GetObject',
    '2026-11-29T20:05:00Z',
    'bench@example.com',
    'https://api.example.com/v1?x=1',
    'a: b',
    'a #b',
    'a#b',
    'end:',
    '0',
    '7',
    '01',
    '123456789012345',
    '1234567890123456',
    '-1',
    '+1',
    '1.5',
    '1e3',
    '.5',
    '.inf',
    '-.Inf',
    '.NaN',
    '0x1F',
    '0o17',
    '1_000',
    'null',
    'Null',
    'NULL',
    'nULL',
    '~',
    '~x',
    'true',
    'True',
    'TRUE',
    'tRUE',
    'false',
    'yes',
    'no',
    'on',
    '-x',
    '?x',
    ':x',
    '!x',
    '&x',
    '*x',
    '%x',
    '@x',
    '`x',
    '|',
    '>',
    "'q'",
    '"q"',
    "it's",
    'a,b',
    'a[b]',
    '{x}',
    '日本語',
    'café',
    'a\u00a0b',
    'x\u00a0',
    '\u00a0x',
    'x\u3000',
    'x\u2003',
    'x\u2028',
    'x\ufeff',
  ),
  fc.stringMatching(/^[a-z][a-z0-9:/._-]{0,12}$/),
);

const tree: fc.Arbitrary<Tree> = fc.letrec<{ node: Tree }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalars,
    fc.array(tie('node'), { minLength: 1, maxLength: 4 }),
    fc
      .tuple(fc.array(fc.tuple(keys, tie('node')), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([members, flow]) => ({ members, flow })),
  ),
})).node;

interface Style {
  readonly indents: readonly number[];
  readonly seqUnderKey: readonly boolean[];
  readonly gaps: readonly string[];
  readonly extras: readonly string[];
}

/** Render a tree as block YAML in a generated style. */
function render(root: Tree, style: Style): string {
  let k = 0;
  const pick = <T>(list: readonly T[]): T => list[k++ % list.length]!;
  const out: string[] = [];
  const emit = (line: string) => {
    out.push(line);
    const extra = pick(style.extras);
    if (extra !== '') out.push(extra);
  };
  const isFlowable = (n: Tree): n is { members: [string, string][]; flow: boolean } =>
    typeof n === 'object' && !Array.isArray(n) && n.flow && n.members.every(([, v]) => typeof v === 'string');
  const inline = (n: Tree): string | undefined => {
    if (typeof n === 'string') return n;
    if (isFlowable(n))
      return `{${pick(style.gaps)}${n.members.map(([key, v]) => `${key}: ${v}`).join(`,${pick(style.gaps)}`)}${pick(style.gaps)}}`;
    return undefined;
  };
  // `prefix` is what starts the first line (a dash for a compact mapping); `col` the entries' column.
  const block = (n: Tree, col: number, prefix?: string) => {
    const pad = ' '.repeat(col);
    if (Array.isArray(n)) {
      n.forEach((item, i) => {
        const lead = i === 0 && prefix !== undefined ? prefix : pad;
        const gap = ' '.repeat(1 + (k++ % 2));
        const text = inline(item);
        if (text !== undefined) emit(`${lead}-${gap}${text}${pick(style.gaps)}`);
        else if (!Array.isArray(item)) block(item, col + 1 + gap.length, `${lead}-${gap}`);
        else {
          emit(`${lead}-`);
          block(item, col + pick(style.indents));
        }
      });
      return;
    }
    if (typeof n === 'string') {
      emit(`${prefix ?? pad}${n}`);
      return;
    }
    n.members.forEach(([key, v], i) => {
      const lead = i === 0 && prefix !== undefined ? prefix : pad;
      const text = inline(v);
      if (text !== undefined) {
        emit(`${lead}${key}:${pick(style.gaps) || ' '}${text}`);
      } else {
        emit(`${lead}${key}:${pick(style.gaps)}`);
        const under = Array.isArray(v) && pick(style.seqUnderKey) ? col : col + pick(style.indents);
        block(v, under);
      }
    });
  };
  if (typeof root === 'string' || isFlowable(root)) emit(inline(root)!);
  else block(root, 0);
  return `${out.join('\n')}\n`;
}

const style = fc.record({
  indents: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 5 }),
  seqUnderKey: fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }),
  gaps: fc.array(fc.constantFrom('', '', ' ', '  '), { minLength: 1, maxLength: 4 }),
  extras: fc.array(fc.constantFrom('', '', '', '', '# c', '   # c', '', '  ', '---', '\t'), {
    minLength: 1,
    maxLength: 6,
  }),
});

const deep = fc
  .integer({ min: MAX_MANIFEST_DEPTH - 2, max: MAX_MANIFEST_DEPTH + 2 })
  .map((d) =>
    Array.from({ length: d }, (_, i) => `${' '.repeat(i * 2)}k${i}:${i === d - 1 ? ' v' : ''}`).join('\n'),
  );

const corrupt = (text: string, edits: readonly [number, number, string][]): string => {
  let out = text;
  for (const [at, drop, insert] of edits) {
    const i = at % (out.length + 1);
    out = out.slice(0, i) + insert + out.slice(i + drop);
  }
  return out;
};

const texts = fc.oneof(
  fc.tuple(tree, style).map(([n, s]) => render(n, s)),
  fc.tuple(tree, style).map(([n, s]) => render(n, s)),
  deep,
  fc
    .tuple(
      tree,
      style,
      fc.array(
        fc.tuple(
          fc.nat(),
          fc.nat(2),
          fc.constantFrom('', ' ', '\n', '-', ':', '#', '{', '}', ',', '\t', '"', '\r', ' #', ': '),
        ),
        { minLength: 1, maxLength: 3 },
      ),
    )
    .map(([n, s, edits]) => corrupt(render(n, s), edits)),
);

t.test('the block-style YAML reader agrees with the YAML reader', async (t) => {
  let accepted = 0;
  let refused = 0;
  fc.assert(
    fc.property(texts, (text) => {
      const fast = readBlockYaml(text);
      const yaml = parseStrict(text, { schema: 'core' });
      if (fast === undefined) refused += 1;
      else accepted += 1;
      return agreesWithYamlReader(fast, yaml, parseYamlSource(text));
    }),
    { numRuns: 4000 },
  );
  // A generator that never reaches one side would prove nothing.
  t.ok(accepted > 400, `the block reader accepted ${accepted} texts`);
  t.ok(refused > 400, `the block reader refused ${refused} texts`);
});
