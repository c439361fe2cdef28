// Fuzz target: the manifest loader, for a bounded time (CI runs it on every build). Whatever text it
// is given (arbitrary strings and bytes, the seed manifest mutated character by character, YAML
// features spliced in, JSON documents with any value at any path), loadManifestText never throws and
// returns either problems (each with a code and a message) or a manifest that is deeply frozen.
// A failure prints fast-check's seed and counterexample; ERRAND_FC_SEED replays it.

import fc from 'fast-check';
import t from 'tap';
import { loadManifestText } from '../../src/manifest/load.ts';
import { checker, NOW, seed, toYaml } from '../fixtures/manifests/build.ts';

const BUDGET_MS = Number(process.env['ERRAND_FUZZ_MS'] ?? 8000);
const SEED = Number(process.env['ERRAND_FC_SEED'] ?? Date.now() % 2 ** 31);
const BASE_YAML = toYaml(seed());
const BASE_JSON = JSON.stringify(seed(), null, 2);

const YAML_BITS = [
  '&a ',
  '*a',
  '<<: *a\n',
  '!!binary ',
  '!tag ',
  '!!python/object:os.system ',
  '---\n',
  '...\n',
  '{',
  '}',
  '[',
  ']',
  '"',
  "'",
  '\t',
  '? ',
  '%YAML 1.1\n',
  '\u0000',
  '\uFEFF',
  '\r',
  '\n  ',
  ': ',
  '- ',
  '#',
  '|',
  '>-',
  '0x1F',
  '1e400',
  '~',
  'null',
  '2026-11-29',
  '\\u0000',
  '"\\ud800"',
  '__proto__: 1\n',
  'constructor: {prototype: {x: 1}}\n',
  '[[[[[[[[[[[[[[[[[[[[',
];

/** A text edit at a relative position of the base text. */
const editArb = fc.record({
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  del: fc.nat(24),
  insert: fc.oneof(
    fc.constantFrom(...YAML_BITS),
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 6 }),
  ),
});
const mutate = (base: string, edits: readonly { at: number; del: number; insert: string }[]): string =>
  edits.reduce((text, e) => {
    const i = Math.floor(e.at * text.length);
    return text.slice(0, i) + e.insert + text.slice(i + e.del);
  }, base);

/** The seed manifest as a value with one path replaced by an arbitrary JSON value. */
const replaceAt = (value: unknown, path: readonly number[], replacement: unknown): unknown => {
  if (path.length === 0 || typeof value !== 'object' || value === null) return replacement;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return replacement;
  const [key, child] = entries[path[0]! % entries.length]!;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...value };
  (copy as Record<string, unknown>)[key] = replaceAt(child, path.slice(1), replacement);
  return copy;
};

const inputArb = fc.oneof(
  fc.record({ text: fc.string({ maxLength: 400 }), json: fc.boolean() }),
  fc.record({ text: fc.string({ unit: 'binary', maxLength: 400 }), json: fc.boolean() }),
  fc.record({
    text: fc.array(editArb, { minLength: 1, maxLength: 6 }).map((e) => mutate(BASE_YAML, e)),
    json: fc.constant(false),
  }),
  fc.record({
    text: fc.array(editArb, { minLength: 1, maxLength: 6 }).map((e) => mutate(BASE_JSON, e)),
    json: fc.boolean(),
  }),
  fc.record({
    text: fc
      .tuple(fc.array(fc.nat(20), { minLength: 1, maxLength: 5 }), fc.jsonValue({ maxDepth: 4 }))
      .map(([path, v]) => JSON.stringify(replaceAt(seed(), path, v))),
    json: fc.boolean(),
  }),
  fc.record({
    text: fc
      .tuple(fc.array(fc.nat(20), { minLength: 1, maxLength: 5 }), fc.jsonValue({ maxDepth: 4 }))
      .map(([path, v]) => toYaml(replaceAt(seed(), path, v))),
    json: fc.constant(false),
  }),
);

const deeplyFrozen = (value: unknown, seen = new Set<unknown>()): boolean => {
  if (typeof value !== 'object' || value === null || seen.has(value)) return true;
  seen.add(value);
  return Object.isFrozen(value) && Object.values(value).every((v) => deeplyFrozen(v, seen));
};

t.test(
  `the loader never throws: problems, or a frozen manifest (${BUDGET_MS} ms, seed ${SEED})`,
  async (t) => {
    const stats = { runs: 0, loaded: 0, refused: 0 };
    const codes = new Set<string>();
    fc.assert(
      fc.property(inputArb, ({ text, json }) => {
        stats.runs++;
        const result = loadManifestText(text, {
          now: NOW,
          checker,
          ...(json ? { fileName: 'task.json' } : {}),
        });
        if (result.ok) {
          stats.loaded++;
          if (!deeplyFrozen(result.loaded.manifest))
            throw new Error('a loaded manifest is not deeply frozen');
          if (!/^[0-9a-f]{64}$/.test(result.loaded.sha256)) throw new Error('no manifest hash');
          if (!(result.loaded.expiresAtMs > NOW)) throw new Error('a loaded manifest is already expired');
          return;
        }
        stats.refused++;
        if (result.problems.length === 0) throw new Error('refused without a problem');
        for (const p of result.problems) {
          if (typeof p.code !== 'string' || !p.code.startsWith('ERR_'))
            throw new Error(`problem without a code: ${JSON.stringify(p)}`);
          if (typeof p.message !== 'string' || p.message.length === 0)
            throw new Error(`problem without a message: ${p.code}`);
          if (!Number.isInteger(p.line) || p.line < 0) throw new Error(`problem without a line: ${p.code}`);
          codes.add(p.code);
        }
      }),
      { numRuns: 1_000_000, interruptAfterTimeLimit: BUDGET_MS, markInterruptAsFailure: false, seed: SEED },
    );
    t.ok(stats.runs >= 500, `enough inputs in the budget: ${JSON.stringify(stats)}`);
    t.ok(stats.loaded >= 1 && stats.refused >= 1, 'both outcomes were reached');
    t.ok(codes.size >= 3, `several problem codes: ${[...codes].sort().join(', ')}`);
  },
);
