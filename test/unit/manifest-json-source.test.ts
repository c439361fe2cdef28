// The JSON reader for manifest sources: what it takes itself, what it leaves to the YAML reader,
// and that a user sees the same problems and positions either way (a .json file, a JWS payload).

import t from 'tap';
import { parseJsonSource, readStrictJson } from '../../src/manifest/json-source.ts';
import { loadManifestText } from '../../src/manifest/load.ts';
import { MAX_MANIFEST_BYTES, parseStrict } from '../../src/manifest/positions.ts';
import { checker, NOW, seed } from '../fixtures/manifests/build.ts';
import { verdictOf } from '../helpers/manifest-readers.ts';

t.test('the fast reader takes strict JSON collections and leaves the rest to the YAML reader', async (t) => {
  const rows: { name: string; text: string; fast: boolean }[] = [
    { name: 'an object', text: '{"a":[1,{"b":null}]}', fast: true },
    { name: 'CRLF line ends', text: '{\r\n  "a": 1\r\n}\r\n', fast: true },
    { name: 'escaped names that differ', text: '{"a":1,"\\u0062":2}', fast: true },
    { name: 'nesting at the cap', text: `${'['.repeat(16)}${']'.repeat(16)}`, fast: true },
    { name: 'a top-level scalar', text: '"x"', fast: false },
    { name: 'a lone CR (YAML reads it differently)', text: '{"a":\r1}', fast: false },
    { name: 'a byte-order mark', text: '\ufeff{"a":1}', fast: false },
    { name: 'a trailing comma (not JSON)', text: '{"a":1,}', fast: false },
    { name: 'a repeated name', text: '{"a":1,"a":2}', fast: false },
    { name: 'a repeated name spelled with an escape', text: '{"a":1,"\\u0061":2}', fast: false },
    { name: 'a forbidden key', text: '{"x":{"constructor":1}}', fast: false },
    { name: 'nesting past the cap', text: `${'['.repeat(17)}${']'.repeat(17)}`, fast: false },
    { name: 'more bytes than the cap', text: `["${'é'.repeat(MAX_MANIFEST_BYTES / 2)}"]`, fast: false },
  ];
  for (const row of rows) {
    const fast = readStrictJson(row.text);
    t.equal(fast !== undefined, row.fast, row.name);
    t.same(
      verdictOf(parseJsonSource(row.text)),
      verdictOf(parseStrict(row.text, { schema: 'json' })),
      `${row.name}: as the YAML reader`,
    );
  }
});

t.test('problems in a JSON manifest: the YAML reader messages and positions', async (t) => {
  const rows: { name: string; text: string; problems: [string, string, number, number, string][] }[] = [
    {
      name: 'a repeated key on line 3',
      text: '{\n  "apiVersion": "errand.dev/v1",\n  "apiVersion": "errand.dev/v1"\n}',
      problems: [['ERR_MANIFEST_SYNTAX', '', 3, 3, 'duplicate key: a key may appear only once in a mapping']],
    },
    {
      name: 'a __proto__ key',
      text: '{\n  "task": {"__proto__": {}}\n}',
      problems: [['ERR_MANIFEST_INVALID', '/task/__proto__', 2, 12, 'key "__proto__" is not allowed']],
    },
    {
      name: 'nesting past the cap',
      text: `{"a":${'['.repeat(16)}${']'.repeat(16)}}`,
      problems: [['ERR_MANIFEST_TOO_LARGE', '', 1, 21, 'nesting is deeper than 16 levels']],
    },
  ];
  for (const row of rows) {
    const r = loadManifestText(row.text, { now: NOW, checker, fileName: 'task.json' });
    t.same(
      r.ok ? [] : r.problems.map((p) => [p.code, p.path, p.line, p.column, p.message]),
      row.problems,
      row.name,
    );
  }
});

t.test('schema problems in a JSON manifest point at the value, found without the YAML parser', async (t) => {
  const manifest = seed() as Record<string, Record<string, unknown>>;
  manifest['task']!['purpose'] = '';
  const text = JSON.stringify(manifest, null, 2);
  t.ok(readStrictJson(text), 'the fast reader takes it');
  const r = loadManifestText(text, { now: NOW, checker, fileName: 'task.json' });
  const line = text.split('\n').findIndex((l) => l.includes('"purpose"')) + 1;
  t.same(r.ok ? [] : r.problems.map((p) => [p.code, p.path, p.line, p.column]), [
    ['ERR_MANIFEST_INVALID', '/task/purpose', line, 16],
  ]);
  const yaml = parseStrict(text, { schema: 'json' });
  const fast = readStrictJson(text)!;
  for (const pointer of [
    '',
    '/task',
    '/task/purpose',
    '/aws/grants/0/id',
    '/aws/grants/9',
    '/nope',
    '/task/user/x/y',
    '/task/purpose/x',
  ]) {
    if (!yaml.ok) break;
    t.same(fast.locate(pointer, 'key'), yaml.locate(pointer, 'key'), `${pointer} (key)`);
    t.same(fast.locate(pointer), yaml.locate(pointer), `${pointer} (value)`);
  }
});
