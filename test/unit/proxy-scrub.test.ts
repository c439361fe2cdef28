import { Readable } from 'node:stream';
import fc from 'fast-check';
import t from 'tap';
import { createScrubber, REDACTED, scrubPatterns, scrubText } from '../../src/proxy/scrub.ts';

// Scrubbing a reflected secret from headers and from bodies streamed in arbitrary chunks (F3, K3).

const SECRET = 'tok_0123456789abcdef/+=';
const patterns = scrubPatterns(SECRET, `Bearer ${SECRET}`);

async function scrubChunks(chunks: string[]): Promise<{ out: string; replaced: number }> {
  const s = createScrubber(patterns);
  const parts: Buffer[] = [];
  Readable.from(chunks.map((c) => Buffer.from(c))).pipe(s);
  for await (const p of s) parts.push(p as Buffer);
  return { out: Buffer.concat(parts).toString(), replaced: s.replaced };
}

t.test('patterns', async (t) => {
  t.same(
    patterns,
    [`Bearer ${SECRET}`, encodeURIComponent(SECRET), Buffer.from(SECRET).toString('base64'), SECRET].sort(
      (a, b) => b.length - a.length,
    ),
  );
  t.same(scrubPatterns('abc', 'x'), [], 'nothing shorter than 8 characters is a pattern');
  t.equal(scrubText(`a ${SECRET} b Bearer ${SECRET}`, patterns), `a ${REDACTED} b ${REDACTED}`);
  t.equal(scrubText('nothing here', patterns), 'nothing here');
});

t.test('streams, whatever the chunk boundaries', async (t) => {
  const body = `{"echo":"${SECRET}","enc":"${encodeURIComponent(SECRET)}","b64":"${Buffer.from(SECRET).toString('base64')}"}`;
  const expected = `{"echo":"${REDACTED}","enc":"${REDACTED}","b64":"${REDACTED}"}`;
  for (const size of [1, 2, 3, 7, 16, 1000]) {
    const chunks = body.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g'))!;
    const r = await scrubChunks(chunks);
    t.equal(r.out, expected, `chunks of ${size}`);
    t.equal(r.replaced, 3, `chunks of ${size}: three replacements`);
  }
  const plain = await scrubChunks(['no secret ', 'in this ', 'body']);
  t.equal(plain.out, 'no secret in this body');
  t.equal(plain.replaced, 0);
  const partial = await scrubChunks([SECRET.slice(0, 10)]);
  t.equal(partial.out, SECRET.slice(0, 10), 'a prefix at the very end is flushed unchanged');
});

t.test('nothing but a partial match waits; same-length replacement keeps lengths', async (t) => {
  const s = createScrubber(patterns);
  const got: string[] = [];
  s.on('data', (d: Buffer) => got.push(d.toString()));
  s.write(Buffer.from('event: a\n\n'));
  await new Promise((r) => setImmediate(r));
  t.same(got, ['event: a\n\n'], 'a chunk with no partial match is emitted at once (server-sent events)');
  s.write(Buffer.from(`data: ${SECRET.slice(0, 5)}`));
  await new Promise((r) => setImmediate(r));
  t.same(got.join(''), 'event: a\n\ndata: ', 'only the possible start of the secret waits');
  s.end(Buffer.from(`${SECRET.slice(5)}\n`));
  await new Promise((r) => s.once('end', r));
  t.equal(got.join(''), `event: a\n\ndata: ${REDACTED}\n`);

  const same = createScrubber(patterns, { sameLength: true });
  const out: Buffer[] = [];
  Readable.from([Buffer.from(`[${SECRET}]`)]).pipe(same);
  for await (const p of same) out.push(p as Buffer);
  t.equal(Buffer.concat(out).toString(), `[${'*'.repeat(Buffer.byteLength(SECRET))}]`);
});

t.test('a chunk with nothing to scrub passes through uncopied; counts are redactions made', async (t) => {
  const s = createScrubber(patterns);
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  const clean = Buffer.from('{"items":[1,2,3]}\n');
  s.write(clean);
  await new Promise((r) => setImmediate(r));
  t.equal(got[0], clean, 'the very same buffer, not a copy');
  s.end(Buffer.from(`auth: Bearer ${SECRET}; raw ${SECRET}`));
  await new Promise((r) => s.once('end', r));
  t.equal(Buffer.concat(got).toString(), `{"items":[1,2,3]}\nauth: ${REDACTED}; raw ${REDACTED}`);
  t.equal(s.replaced, 2, 'the injected value and the raw secret: two redactions');
});

t.test('a long pattern whose first byte recurs is held back exactly', async (t) => {
  const long = `aaaa${'b'.repeat(60)}`;
  const s = createScrubber([long]);
  const out: string[] = [];
  s.on('data', (d: Buffer) => out.push(d.toString()));
  s.write(Buffer.from(`x${'a'.repeat(10)}`));
  await new Promise((r) => setImmediate(r));
  t.equal(out.join(''), `x${'a'.repeat(6)}`, 'only the last four a could start the pattern');
  s.end(Buffer.from(`${'b'.repeat(60)}y`));
  await new Promise((r) => s.once('end', r));
  t.equal(out.join(''), `x${'a'.repeat(6)}${REDACTED}y`);
});

// Streaming must give what scrubbing the whole text at once gives, whatever the chunk boundaries.
t.test('streamed scrubbing equals whole-text scrubbing (property)', async () => {
  const piece = fc.constantFrom(
    SECRET,
    `Bearer ${SECRET}`,
    encodeURIComponent(SECRET),
    SECRET.slice(0, 7),
    'tok_',
    'x',
    ' ',
    '"',
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(piece, { maxLength: 30 }),
      fc.array(fc.nat(400), { maxLength: 8 }),
      async (pieces, cuts) => {
        const text = pieces.join('');
        const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...at]
          .map((from, i) => text.slice(from, [...at, text.length][i]))
          .filter((c) => c !== '');
        const r = await scrubChunks(chunks);
        return r.out === scrubText(text, patterns);
      },
    ),
    { numRuns: 300 },
  );
});
