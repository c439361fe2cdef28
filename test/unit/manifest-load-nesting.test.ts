// The flow-nesting cap without a lexer pass: a source that opens few flow collections, or JSON
// measured by a string-aware count, skips the lexer; whatever it skips, the verdict and position
// must be what the lexer gives.
import fc from 'fast-check';
import t from 'tap';
import { Lexer } from 'yaml';
import { loadManifestText } from '../../src/manifest/load.ts';
import { MAX_MANIFEST_DEPTH, type ParseProblem, parseStrict } from '../../src/manifest/positions.ts';
import { checker, NOW, seed, seedWith, toYaml } from '../fixtures/manifests/build.ts';

const TOO_DEEP = `nesting is deeper than ${MAX_MANIFEST_DEPTH} levels`;

/** The reference: the offset of the first flow collection opened deeper than the cap, by lexing. */
const lexedExcess = (text: string): number | undefined => {
  let depth = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') {
      depth += 1;
      if (depth > MAX_MANIFEST_DEPTH) return offset;
    } else if (token === ']' || token === '}') {
      depth -= 1;
    }
    if (!['\u0002', '\u0018', '\u001f'].includes(token)) offset += token.length;
  }
  return undefined;
};

const positionAt = (text: string, offset: number) => {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
};

const nestingProblems = (text: string, schema: 'core' | 'json'): readonly ParseProblem[] => {
  const parsed = parseStrict(text, { schema });
  return parsed.ok ? [] : parsed.problems.filter((p) => p.message === TOO_DEEP);
};

t.test('flow nesting within and beyond the cap, with brackets inside strings', async (t) => {
  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const rows: { name: string; text: string; schema: 'core' | 'json'; at?: [line: number, column: number] }[] =
    [
      { name: 'JSON, shallow, many collections', text: JSON.stringify(seed()), schema: 'json' },
      // The outer mapping is the first level.
      { name: 'JSON nested 16 deep', text: `{"a": ${deep(15)}}`, schema: 'json' },
      { name: 'JSON nested 17 deep', text: `{"a": ${deep(16)}}`, schema: 'json', at: [1, 22] },
      {
        name: 'JSON: closers in a string hide no depth',
        text: `{"s": "${']'.repeat(40)}",\n "a": ${deep(20)}}`,
        schema: 'json',
        at: [2, 22],
      },
      {
        name: 'JSON: an escaped quote does not end the string',
        text: `{"s": "\\"${']'.repeat(40)}\\\\",\n "a": ${deep(20)}}`,
        schema: 'json',
        at: [2, 22],
      },
      {
        name: 'JSON: openers in a string add no depth',
        text: `{"s": "\\"${'['.repeat(40)}", "a": ${deep(3)}}`,
        schema: 'json',
      },
      {
        name: 'invalid JSON falls back to the lexer',
        text: `{"a": ${deep(20)}`,
        schema: 'json',
        at: [1, 22],
      },
      {
        name: 'YAML: many shallow flow collections',
        text: Array.from({ length: 40 }, (_, i) => `k${i}: [x, {y: z}]\n`).join(''),
        schema: 'core',
      },
      {
        name: 'YAML: closers in a quoted scalar hide no depth',
        text: `s: "${']'.repeat(40)}"\na: ${deep(20)}\n`,
        schema: 'core',
        at: [2, 20],
      },
    ];
  for (const row of rows) {
    const found = nestingProblems(row.text, row.schema);
    const reference = lexedExcess(row.text);
    t.equal(reference === undefined, row.at === undefined, `${row.name}: the lexer agrees with the table`);
    if (row.at === undefined) {
      t.same(found, [], row.name);
    } else {
      t.same(
        found.map((p) => [p.code, p.path, p.position.line, p.position.column]),
        [['ERR_MANIFEST_TOO_LARGE', '', ...row.at]],
        row.name,
      );
    }
  }
});

t.test('a manifest with brackets and quotes in its strings loads unchanged', async (t) => {
  const purpose = `Summarize "q3" [[[[[[[[[[[[[[[[[[[[ ]]]]]]]]]]]]]]]]]]]] \\ report`;
  const source = seedWith((m) => {
    m['task'].purpose = purpose;
  });
  for (const [fileName, text] of [
    ['m.json', JSON.stringify(source, null, 2)],
    ['m.yaml', toYaml(source)],
  ] as const) {
    const r = loadManifestText(text, { now: NOW, checker, fileName });
    t.equal(r.ok, true, fileName);
    if (r.ok) t.equal(r.loaded.manifest.task.purpose, purpose, fileName);
  }
});

t.test('for any JSON value the cap is judged and placed as the lexer does', async (t) => {
  const value = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a', ' ', '\n') }),
      fc.integer(),
      fc.array(tie('node'), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 4 }), tie('node'), { maxKeys: 3 }),
      // Long thin chains, so values both within and beyond the cap come up.
      fc.integer({ min: 10, max: 24 }).map((n) => JSON.parse(`${'['.repeat(n)}1${']'.repeat(n)}`)),
    ),
  })).node;
  fc.assert(
    fc.property(value, fc.constantFrom(undefined, 1), (v, indent) => {
      const text = JSON.stringify({ v }, null, indent);
      const reference = lexedExcess(text);
      for (const schema of ['json', 'core'] as const) {
        const found = nestingProblems(text, schema);
        if (reference === undefined) {
          if (found.length !== 0) return false;
        } else {
          const p = found[0];
          const want = positionAt(text, reference);
          if (p?.position.line !== want.line || p.position.column !== want.column) return false;
        }
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass('the fast path and the lexer agree');
});
