// Hostile manifest sources: whatever a YAML parser can be made to do beyond plain mappings,
// sequences and scalars is refused with a position, before the schema sees a value.
import { execFileSync } from 'node:child_process';
import t from 'tap';
import {
  loadManifestText,
  MAX_MANIFEST_BYTES,
  MAX_MANIFEST_DEPTH,
  MAX_YAML_ALIASES,
  type Problem,
} from '../../src/manifest/load.ts';
import { checker, NOW, seed, toYaml } from '../fixtures/manifests/build.ts';

const base = toYaml(seed());
const problemsOf = (text: string): Problem[] | 'loaded' => {
  const r = loadManifestText(text, { now: NOW, checker });
  return r.ok ? 'loaded' : [...r.problems];
};

const tagFix = 'remove the tag; quote the value if it must be a string';
const keyFix = 'use a string key; complex, numeric, boolean and null keys are not allowed';
const aliasFix = 'write the values out instead of repeating anchors';

t.test('limits are named and small', async (t) => {
  t.equal(MAX_MANIFEST_BYTES, 256 * 1024);
  t.equal(MAX_MANIFEST_DEPTH, 16);
  t.equal(MAX_YAML_ALIASES, 16);
});

t.test('hostile sources are refused with code, position and message', async (t) => {
  const rows: { name: string; text: string; problems: Problem[] }[] = [
    {
      name: 'malformed YAML: an unclosed flow sequence',
      text: 'apiVersion: errand.dev/v1\ntask: [1, 2\n',
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          line: 3,
          column: 1,
          message: 'Flow sequence in block collection must be sufficiently indented and end with a ]',
        },
      ],
    },
    {
      name: 'malformed YAML: tabs as indentation',
      text: 'apiVersion: errand.dev/v1\ntask:\n\tid: x\n',
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          line: 3,
          column: 1,
          message: 'Tabs are not allowed as indentation',
        },
      ],
    },
    {
      name: 'a duplicate top-level key (the second kind: could differ)',
      text: base.replace('kind: TaskManifest\n', 'kind: TaskManifest\nkind: TaskManifest\n'),
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          line: 3,
          column: 1,
          message: 'duplicate key: a key may appear only once in a mapping',
          fix: 'remove one of the two entries',
        },
      ],
    },
    {
      name: 'a duplicate key inside a grant (uses: 1 then uses: unlimited)',
      text: base.replace('      uses: 1\nhttp', '      uses: 1\n      uses: unlimited\nhttp'),
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          line: 19,
          column: 7,
          message: 'duplicate key: a key may appear only once in a mapping',
          fix: 'remove one of the two entries',
        },
      ],
    },
    {
      name: 'a duplicate key spelled once plain and once quoted',
      text: base.replace('  isolation: task\n', '  isolation: task\n  "isolation": grant\n'),
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          line: 14,
          column: 3,
          message: 'duplicate key: a key may appear only once in a mapping',
          fix: 'remove one of the two entries',
        },
      ],
    },
    {
      name: 'a duplicate key in JSON',
      text: '{"apiVersion": "errand.dev/v1", "apiVersion": "errand.dev/v2"}',
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          line: 1,
          column: 33,
          message: 'duplicate key: a key may appear only once in a mapping',
          fix: 'remove one of the two entries',
        },
      ],
    },
    {
      name: 'a file over the size cap',
      text: `a: ${'x'.repeat(MAX_MANIFEST_BYTES)}`,
      problems: [
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '',
          line: 1,
          column: 1,
          message: 'the source is 262147 bytes; the limit is 262144',
          fix: 'a manifest names one task: split unrelated work into separate tasks',
        },
      ],
    },
    {
      name: 'the size cap counts bytes, not characters',
      text: `a: ${'é'.repeat(MAX_MANIFEST_BYTES / 2)}`,
      problems: [
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '',
          line: 1,
          column: 1,
          message: 'the source is 262147 bytes; the limit is 262144',
          fix: 'a manifest names one task: split unrelated work into separate tasks',
        },
      ],
    },
    {
      name: 'deep flow nesting',
      text: `a: ${'['.repeat(20)}${']'.repeat(20)}\n`,
      problems: [
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '',
          line: 1,
          column: 20,
          message: 'nesting is deeper than 16 levels',
        },
      ],
    },
    {
      name: 'flow nesting deep enough to exhaust the parser stack',
      text: `a: ${'['.repeat(5000)}${']'.repeat(5000)}\n`,
      problems: [
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '',
          line: 1,
          column: 20,
          message: 'nesting is deeper than 16 levels',
        },
      ],
    },
    {
      name: 'deep block nesting',
      text: `${Array.from({ length: 20 }, (_, i) => `${' '.repeat(i * 2)}k:`).join('\n')} 1\n`,
      problems: [
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k/k',
          line: 17,
          column: 33,
          message: 'nesting is deeper than 16 levels',
        },
      ],
    },
    {
      name: 'block and flow nesting together',
      text: `${Array.from({ length: 10 }, (_, i) => `${' '.repeat(i * 2)}k:`).join('\n')} ${'['.repeat(10)}${']'.repeat(10)}\n`,
      problems: [
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '/k/k/k/k/k/k/k/k/k/k/0/0/0/0/0/0',
          line: 10,
          column: 28,
          message: 'nesting is deeper than 16 levels',
        },
      ],
    },
    {
      name: 'billion laughs: too many aliases',
      text: 'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
      problems: [
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '/c/1',
          line: 3,
          column: 11,
          message: 'more than 16 aliases',
          fix: aliasFix,
        },
      ],
    },
    {
      name: 'a small alias bomb: few aliases, large expansion',
      text: `a: &a [${Array(30).fill('x').join(',')}]\nb: &b [*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b]\nd: [*c,*c,*c,*c]\n`,
      problems: [
        {
          code: 'ERR_MANIFEST_TOO_LARGE',
          path: '',
          line: 1,
          column: 1,
          message: 'aliases expand to more content than the limit allows',
          fix: aliasFix,
        },
      ],
    },
    {
      name: '__proto__ at the top level',
      text: `${base}__proto__: { polluted: true }\n`,
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/__proto__',
          line: 28,
          column: 1,
          message: 'key "__proto__" is not allowed',
          fix: 'remove the key: it is never part of a manifest',
        },
      ],
    },
    {
      name: 'constructor inside task',
      text: base.replace('task:\n', 'task:\n  constructor: x\n'),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/task/constructor',
          line: 4,
          column: 3,
          message: 'key "constructor" is not allowed',
          fix: 'remove the key: it is never part of a manifest',
        },
      ],
    },
    {
      name: 'prototype inside a grant, quoted',
      text: base.replace('      uses: 1\nhttp', '      uses: 1\n      "prototype": {}\nhttp'),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/aws/grants/0/prototype',
          line: 19,
          column: 7,
          message: 'key "prototype" is not allowed',
          fix: 'remove the key: it is never part of a manifest',
        },
      ],
    },
    {
      name: 'a YAML 1.1 tag (!!binary)',
      text: base.replace('purpose: Summarize report.pdf for alice', 'purpose: !!binary aGVsbG8='),
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '/task/purpose',
          line: 5,
          column: 21,
          message: 'explicit tag "tag:yaml.org,2002:binary" is not allowed',
          fix: tagFix,
        },
      ],
    },
    {
      name: 'a custom tag (code-execution tags of other loaders)',
      text: base.replace('purpose: Summarize report.pdf for alice', 'purpose: !js/function "x"'),
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '/task/purpose',
          line: 5,
          column: 25,
          message: 'explicit tag "!js/function" is not allowed',
          fix: tagFix,
        },
      ],
    },
    {
      name: 'even a harmless !!str tag',
      text: base.replace('purpose: Summarize report.pdf for alice', 'purpose: !!str x'),
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '/task/purpose',
          line: 5,
          column: 18,
          message: 'explicit tag "tag:yaml.org,2002:str" is not allowed',
          fix: tagFix,
        },
      ],
    },
    {
      name: 'a tag on a key',
      text: `${base}!!str k: x\n`,
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          line: 28,
          column: 7,
          message: 'explicit tag "tag:yaml.org,2002:str" is not allowed',
          fix: 'remove the tag',
        },
      ],
    },
    {
      name: 'a %YAML 1.1 directive',
      text: `%YAML 1.1\n---\n${base}`,
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          line: 1,
          column: 1,
          message: 'YAML directives (%YAML, %TAG) are not allowed',
          fix: 'remove the directive lines; manifests are YAML 1.2',
        },
      ],
    },
    {
      name: 'a second document',
      text: `${base}---\nkind: Other\n`,
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          line: 28,
          column: 1,
          message: 'the source holds more than one YAML document',
          fix: 'keep one document: remove the extra ---',
        },
      ],
    },
    {
      name: 'a numeric key (1 and "1" would collide after conversion)',
      text: `${base}1: x\n`,
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          line: 28,
          column: 1,
          message: 'mapping keys must be plain strings',
          fix: keyFix,
        },
      ],
    },
    {
      name: 'a null key',
      text: `${base}~: x\n`,
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          line: 28,
          column: 1,
          message: 'mapping keys must be plain strings',
          fix: keyFix,
        },
      ],
    },
    {
      name: 'a complex key',
      text: `${base}? [a, b]\n: x\n`,
      problems: [
        {
          code: 'ERR_MANIFEST_SYNTAX',
          path: '',
          line: 28,
          column: 3,
          message: 'mapping keys must be plain strings',
          fix: keyFix,
        },
      ],
    },
    {
      name: 'a YAML 1.1 merge key is just an unknown key in 1.2',
      text: base.replace('task:\n', 'defaults: &d { id: x }\ntask:\n  <<: *d\n'),
      problems: [
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/defaults',
          line: 3,
          column: 1,
          message: 'unknown key "defaults"',
          fix: 'allowed keys here: $schema, apiVersion, kind, task, aws, http',
        },
        {
          code: 'ERR_MANIFEST_INVALID',
          path: '/task/<<',
          line: 5,
          column: 3,
          message: 'unknown key "<<"',
          fix: 'allowed keys here: id, purpose, user, expiresAt',
        },
      ],
    },
  ];
  for (const row of rows) t.same(problemsOf(row.text), row.problems, row.name);
});

t.test('a few anchors and aliases within the cap still load', async (t) => {
  const text = base.replace('  isolation: task\n', '  isolation: &iso task\n');
  t.equal(problemsOf(text), 'loaded');
});

t.test('__proto__ never reaches an object prototype, even when nested in a list', async (t) => {
  const text = base.replace(
    '    - id: read-report\n',
    '    - __proto__: { isAdmin: true }\n      id: read-report\n',
  );
  const r = problemsOf(text);
  t.same(r === 'loaded' ? [] : r.map((p) => [p.code, p.path]), [
    ['ERR_MANIFEST_INVALID', '/aws/grants/0/__proto__'],
  ]);
  t.equal(({} as { isAdmin?: boolean }).isAdmin, undefined);
});

t.test('block nesting that exhausts a small parser stack is still a refusal, not a crash', async (t) => {
  // Flow depth is counted before parsing; block depth is bounded by the parser catching its own
  // stack overflow. A child process with a small stack makes that path reachable.
  const loader = new URL('../../src/manifest/load.ts', import.meta.url).href;
  const code = `
    const { loadManifestText } = await import(${JSON.stringify(loader)});
    const text = Array.from({ length: 600 }, (_, i) => ' '.repeat(i) + '-').join('\\n') + ' 1\\n';
    const r = loadManifestText(text, { now: 0 });
    process.stdout.write(JSON.stringify(r.ok ? 'loaded' : r.problems.map((p) => [p.code, p.message])));
  `;
  const out = execFileSync(process.execPath, ['--stack-size=300', '--input-type=module', '-e', code], {
    encoding: 'utf8',
  });
  t.same(JSON.parse(out), [['ERR_MANIFEST_TOO_LARGE', 'nesting is deeper than 16 levels']]);
});
