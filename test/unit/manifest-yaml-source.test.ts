// The block-style YAML reader for manifest sources: what it reads itself, what it leaves to the
// YAML reader, and that a user sees the same values, problems and positions either way.

import t from 'tap';
import { loadManifestText } from '../../src/manifest/load.ts';
import { MAX_MANIFEST_BYTES, parseStrict } from '../../src/manifest/positions.ts';
import { parseYamlSource, readBlockYaml } from '../../src/manifest/yaml-source.ts';
import { checker, NOW, seed, toYaml } from '../fixtures/manifests/build.ts';
import { verdictOf } from '../helpers/manifest-readers.ts';

t.test('the block reader takes plain block YAML and leaves the rest to the YAML reader', async (t) => {
  const rows: { name: string; text: string; fast: boolean }[] = [
    { name: 'nested mappings', text: 'a:\n  b:\n    c: x\n', fast: true },
    { name: 'a sequence under its key, unindented', text: 'a:\n- x\n- y\nb: 1\n', fast: true },
    { name: 'compact mappings after dashes', text: 'a:\n  - id: x\n    uses: 3\n  -   id: y\n', fast: true },
    { name: 'a one-line flow mapping', text: 'user: { subject: a@b.c, session: s }\nz: {}\n', fast: true },
    {
      name: 'comments, blank lines, trailing spaces',
      text: '# head\na: x  \n\n  # inside\nb: y\n',
      fast: true,
    },
    {
      name: 'null and boolean words, small integers',
      text: 'a: ~\nb: True\nc: FALSE\nd: 42\ne: Null\n',
      fast: true,
    },
    { name: 'a timestamp stays a string', text: 'at: 2026-11-29T20:05:00Z\n', fast: true },
    {
      name: 'a no-break space ends a scalar, it is no separator',
      text: 'a: x\u00a0\nb: { c: y\u3000 }\n',
      fast: true,
    },
    { name: 'a quoted scalar', text: 'a: "x"\n', fast: false },
    { name: 'a number that is not a small integer', text: 'a: 1.5\n', fast: false },
    { name: 'a multi-line plain scalar', text: 'a: x\n  y\n', fast: false },
    { name: 'a multi-line scalar in a sequence', text: '- x\n  y\n', fast: false },
    { name: 'an empty value', text: 'a:\nb: x\n', fast: false },
    { name: 'an empty value at the end', text: 'a:\n', fast: false },
    { name: 'a dash alone', text: '- \n  - x\n', fast: false },
    { name: 'a trailing comment', text: 'a: x # note\n', fast: false },
    { name: 'an anchor and an alias', text: 'a: &x y\nb: *x\n', fast: false },
    { name: 'a tab', text: 'a:\tx\n', fast: false },
    { name: 'a CR', text: 'a: x\r\n', fast: false },
    { name: 'a document marker', text: '---\na: x\n', fast: false },
    { name: 'a directive', text: '%YAML 1.2\n---\na: x\n', fast: false },
    { name: 'a key the core schema reads as a boolean', text: 'true: x\n', fast: false },
    { name: 'a repeated key', text: 'a: x\na: y\n', fast: false },
    { name: 'a forbidden key', text: 'a:\n  __proto__: x\n', fast: false },
    { name: 'a key after a sequence item at its column', text: 'a: x\n- y\n', fast: false },
    { name: 'a deeper line after a mapping entry', text: 'a:\n  b: x\n    c: y\n', fast: false },
    { name: 'a flow mapping with a nested value', text: 'a: { b: [c] }\n', fast: false },
    { name: 'a flow mapping with an empty entry', text: 'a: { b: c, }\n', fast: false },
    { name: 'a flow mapping not closed on its line', text: 'a: { b: c\n', fast: false },
    { name: 'a top-level scalar', text: 'x\n', fast: false },
    { name: 'nothing but comments', text: '# nothing\n', fast: false },
    { name: 'more bytes than the cap', text: `a: ${'é'.repeat(MAX_MANIFEST_BYTES / 2)}\n`, fast: false },
    {
      name: 'nesting past the cap',
      text: Array.from({ length: 17 }, (_, i) => `${' '.repeat(i)}k:${i === 16 ? ' v' : ''}`).join('\n'),
      fast: false,
    },
  ];
  for (const row of rows) {
    const fast = readBlockYaml(row.text);
    t.equal(fast !== undefined, row.fast, row.name);
    t.same(
      verdictOf(parseYamlSource(row.text)),
      verdictOf(parseStrict(row.text, { schema: 'core' })),
      `${row.name}: as the YAML reader`,
    );
  }
});

t.test('problems in a YAML manifest read by the block reader keep their positions', async (t) => {
  const manifest = seed() as Record<string, Record<string, unknown>>;
  manifest['task']!['purpose'] = '';
  manifest['task']!['extra'] = 'x';
  const text = toYaml(manifest).replace(/purpose: .*\n/, 'purpose: \n');
  const withValue = text.replace('purpose: \n', 'purpose: 0\n');
  t.ok(readBlockYaml(withValue), 'the block reader takes it');
  const r = loadManifestText(withValue, { now: NOW, checker });
  const lines = withValue.split('\n');
  const at = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
  t.same(r.ok ? [] : r.problems.map((p) => [p.code, p.path, p.line, p.column]), [
    ['ERR_MANIFEST_INVALID', '/task/purpose', at('purpose:'), 12],
    ['ERR_MANIFEST_INVALID', '/task/extra', at('extra:'), 3],
  ]);
});
