import fc from 'fast-check';
import t from 'tap';
import { sortNames } from '../../src/classify/sort-names.ts';

// Header names are signed and forwarded in this order (SigV4 canonical headers are sorted by name):
// sortNames must order exactly as Array.prototype.sort's default, by UTF-16 code units.
t.test('sortNames orders as the default sort, in place', async (t) => {
  const rows: { name: string; input: string[]; expected: string[] }[] = [
    { name: 'empty', input: [], expected: [] },
    { name: 'one', input: ['host'], expected: ['host'] },
    {
      name: 'signed headers of a GET',
      input: ['x-amz-date', 'host', 'x-amz-security-token', 'x-amz-content-sha256', 'range'],
      expected: ['host', 'range', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-security-token'],
    },
    {
      name: 'prefix first, duplicates kept',
      input: ['x-amz-meta-a', 'x-amz', 'x-amz'],
      expected: ['x-amz', 'x-amz', 'x-amz-meta-a'],
    },
    {
      name: 'code units, not locale: upper case before lower',
      input: ['b', 'B', 'a', '_'],
      expected: ['B', '_', 'a', 'b'],
    },
    {
      name: 'astral vs BMP by code units',
      input: ['\uffff', '\u{1f600}'],
      expected: ['\u{1f600}', '\uffff'],
    },
  ];
  for (const row of rows) {
    const out = sortNames(row.input);
    t.strictSame(out, row.expected, row.name);
    t.equal(out, row.input, `${row.name}: the same array, sorted in place`);
  }
});

t.test('sortNames agrees with Array.prototype.sort, short lists and long ones', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 8 }), { maxLength: 80 }), (names) => {
      const expected = [...names].sort();
      t.strictSame(sortNames([...names]), expected);
      return true;
    }),
    { numRuns: 300 },
  );
});
