// The precompiled schema validator: checked in as the generator renders it, and equivalent to
// what ajv compiles from the schema at run time (same verdict, same errors, so the same problems).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import t from 'tap';
import { parse } from 'yaml';
import {
  AJV_OPTIONS,
  isUpToDate,
  OUTPUT_FILE,
  renderManifestValidator,
} from '../../scripts/gen-manifest-validator.ts';
import { validate as generated } from '../../src/manifest/generated/manifest-validator.js';
import { MANIFEST_SCHEMA } from '../../src/manifest/schema.ts';
import { seed, seedWith } from '../fixtures/manifests/build.ts';

t.test('the checked-in validator is what the generator renders from the schema', async (t) => {
  const rendered = renderManifestValidator();
  t.equal(rendered, readFileSync(OUTPUT_FILE, 'utf8'), 'if not: node scripts/gen-manifest-validator.ts');
  t.equal(isUpToDate(rendered), true);
  t.equal(isUpToDate(`${rendered}\n`), false, 'a stale file is told apart');
  t.notMatch(rendered, /require\(|^import /m, 'the generated module loads nothing');
  const check = execFileSync(process.execPath, ['scripts/gen-manifest-validator.ts', '--check'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.equal(check, '', '--check passes quietly');
});

const compiled = new Ajv(AJV_OPTIONS).compile(structuredClone(MANIFEST_SCHEMA));
const outcome = (validate: typeof generated, value: unknown) => {
  const valid = validate(value);
  return { valid, errors: valid ? [] : structuredClone(validate.errors ?? []) };
};

const examples = readdirSync(new URL('../../examples/', import.meta.url))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => parse(readFileSync(new URL(`../../examples/${f}`, import.meta.url), 'utf8')) as unknown);

t.test('generated and compiled validators agree on a table of values', async (t) => {
  const purpose = (text: string) =>
    seedWith((m) => {
      m['task'].purpose = text;
    });
  const rows: [name: string, value: unknown, valid: boolean][] = [
    ['the seed', seed(), true],
    ['not a mapping', [], false],
    ['null', null, false],
    ['no grants', seedWith((m) => delete m['aws'] && delete m['http']), false],
    ['an unknown key', seedWith((m) => Object.assign(m, { extra: 1 })), false],
    ['a wrong type', seedWith((m) => Object.assign(m['task'], { id: 7 })), false],
    // maxLength counts characters, not UTF-16 units: 500 emoji fit, 501 do not.
    ['500 astral characters', purpose('😀'.repeat(500)), true],
    ['501 astral characters', purpose('😀'.repeat(501)), false],
    ['500 lone surrogates', purpose('\ud83d'.repeat(500)), true],
    ['501 lone surrogates', purpose('\udc00'.repeat(501)), false],
    ...examples.map((e, i): [string, unknown, boolean] => [`example ${i}`, e, true]),
  ];
  for (const [name, value, valid] of rows) {
    const want = outcome(compiled, value);
    t.equal(want.valid, valid, `${name}: compiled verdict`);
    t.same(outcome(generated, value), want, name);
  }
});

/** Every path into a value: object keys and array indexes. */
const pathsOf = (value: unknown, prefix: (string | number)[] = []): (string | number)[][] => {
  if (value === null || typeof value !== 'object') return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => pathsOf(v, [...prefix, k]))];
};

t.test('generated and compiled validators agree on mutated manifests', async (t) => {
  const bases = [seed(), ...examples];
  const mutation = fc.record({
    base: fc.nat({ max: bases.length - 1 }),
    at: fc.nat(),
    op: fc.constantFrom('set', 'delete', 'add'),
    key: fc.constantFrom('id', 'extra', 'resource', 'broadResource', 'uses', 'url', 'inject', 'oauth'),
    value: fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom('*', 'unlimited', 0, -1, 101, 'arn:aws:s3:::b/k', 'https://x.dev/', '', 'GET'),
    ),
  });
  fc.assert(
    fc.property(mutation, ({ base, at, op, key, value }) => {
      const m = structuredClone(bases[base]) as Record<string, unknown>;
      const paths = pathsOf(m);
      const path = paths[at % paths.length]!;
      type Container = Record<string | number, unknown>;
      let parent = m as Container;
      for (const k of path.slice(0, -1)) parent = parent[k] as Container;
      const last = path.at(-1);
      if (last === undefined) return true;
      const child = parent[last];
      if (op === 'set') parent[last] = value;
      else if (op === 'delete' && Array.isArray(parent)) parent.splice(Number(last), 1);
      else if (op === 'delete') delete parent[last];
      else if (typeof child === 'object' && child !== null && !Array.isArray(child))
        (child as Container)[key] = value;
      return isDeepStrictEqual(outcome(generated, m), outcome(compiled, m));
    }),
    { numRuns: 400 },
  );
  t.pass('400 mutations: same verdict and errors');
});
