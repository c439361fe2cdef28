// Scrubbing what the API sends on a WebSocket: messages are scrubbed whole, so a secret split over
// the frames of one fragmented message is caught (SECURITY-CASES F3 over J2). Fragmented messages
// are reassembled (bounded) and sent on as one frame; control frames pass at once, scrubbed;
// anything that cannot be parsed as the API's frames ends the stream.
import { Readable } from 'node:stream';
import t from 'tap';
import { createServerMessageScrubber, replaceInPlace } from '../../src/proxy/websocket.ts';

const SECRET = 'acme-summaries-token-0123456789abcdef';
const needles = [Buffer.from(SECRET)];

/** A server frame (unmasked) with the given first byte (FIN | opcode). */
const frame = (b0: number, payload: string | Buffer, opts: { masked?: boolean; rsv?: boolean } = {}) => {
  const p = Buffer.from(payload);
  const len = p.length < 126 ? [p.length] : [126, p.length >> 8, p.length & 0xff];
  return Buffer.concat([
    Buffer.from([b0 | (opts.rsv ? 0x40 : 0), (opts.masked ? 0x80 : 0) | len[0]!, ...len.slice(1)]),
    ...(opts.masked ? [Buffer.alloc(4)] : []),
    p,
  ]);
};
const TEXT = 0x01;
const CONT = 0x00;
const FIN = 0x80;
const PING = 0x09;

/** Runs bytes through the scrubber, split into chunks of `size`; the frames out, decoded. */
async function run(input: Buffer, size = input.length, max = 1024) {
  let count = 0;
  const s = createServerMessageScrubber((p) => {
    count += replaceInPlace(p, needles);
    return p;
  }, max);
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) chunks.push(Buffer.from(input.subarray(i, i + size)));
  const out: Buffer[] = [];
  let error: string | undefined;
  try {
    for await (const c of Readable.from(chunks).pipe(s)) out.push(c as Buffer);
  } catch (e) {
    error = (e as Error).message;
  }
  const all = Buffer.concat(out);
  const frames: { fin: boolean; opcode: number; text: string }[] = [];
  for (let at = 0; at < all.length; ) {
    const len7 = all[at + 1]! & 0x7f;
    const [h, n] =
      len7 === 127
        ? [10, Number(all.readBigUInt64BE(at + 2))]
        : len7 === 126
          ? [4, all.readUInt16BE(at + 2)]
          : [2, len7];
    frames.push({
      fin: (all[at]! & 0x80) !== 0,
      opcode: all[at]! & 0x0f,
      text: all.subarray(at + h, at + h + n).toString(),
    });
    at += h + n;
  }
  return { error, frames, count };
}

const stars = '*'.repeat(SECRET.length);

t.test('messages are scrubbed whole, whatever the fragments and TCP chunks', async (t) => {
  const cases: {
    name: string;
    input: Buffer;
    frames: { fin: boolean; opcode: number; text: string }[];
    count: number;
  }[] = [
    {
      name: 'a secret split over two fragments',
      input: Buffer.concat([
        frame(TEXT, `a ${SECRET.slice(0, 10)}`),
        frame(FIN | CONT, `${SECRET.slice(10)} b`),
      ]),
      frames: [{ fin: true, opcode: TEXT, text: `a ${stars} b` }],
      count: 1,
    },
    {
      name: 'a secret over three fragments with a ping between them',
      input: Buffer.concat([
        frame(TEXT, SECRET.slice(0, 5)),
        frame(FIN | PING, `p ${SECRET}`),
        frame(CONT, SECRET.slice(5, 20)),
        frame(FIN | CONT, SECRET.slice(20)),
      ]),
      frames: [
        { fin: true, opcode: PING, text: `p ${stars}` },
        { fin: true, opcode: TEXT, text: stars },
      ],
      count: 2,
    },
    {
      name: 'unfragmented frames, one clean, one with the secret',
      input: Buffer.concat([frame(FIN | TEXT, 'hello'), frame(FIN | 0x02, `bin ${SECRET}`)]),
      frames: [
        { fin: true, opcode: TEXT, text: 'hello' },
        { fin: true, opcode: 0x02, text: `bin ${stars}` },
      ],
      count: 1,
    },
    {
      name: 'a long message (16-bit length) split in two',
      input: Buffer.concat([
        frame(TEXT, `${'x'.repeat(300)}${SECRET.slice(0, 3)}`),
        frame(FIN | CONT, SECRET.slice(3)),
      ]),
      frames: [{ fin: true, opcode: TEXT, text: `${'x'.repeat(300)}${stars}` }],
      count: 1,
    },
  ];
  for (const c of cases) {
    for (const size of [1, 2, 3, 7, 64, 4096]) {
      const r = await run(c.input, size);
      t.same(r.frames, c.frames, `${c.name}, chunks of ${size}`);
      t.equal(r.count, c.count, `${c.name}, chunks of ${size}: ${c.count} redacted`);
    }
  }
});

t.test('what cannot be checked ends the stream', async (t) => {
  const cases: [string, Buffer, string][] = [
    [
      'a message over the cap',
      Buffer.concat([frame(TEXT, 'x'.repeat(600)), frame(FIN | CONT, 'x'.repeat(600))]),
      'message larger than the cap',
    ],
    ['a single frame over the cap', frame(FIN | TEXT, 'x'.repeat(1100)), 'message larger than the cap'],
    ['a masked server frame', frame(FIN | TEXT, 'hi', { masked: true }), 'masked server frame'],
    [
      'reserved bits (no extension was negotiated)',
      frame(FIN | TEXT, 'hi', { rsv: true }),
      'reserved bits set',
    ],
    ['a continuation without a message', frame(FIN | CONT, 'hi'), 'continuation without a message'],
    [
      'a new message inside a fragmented one',
      Buffer.concat([frame(TEXT, 'a'), frame(FIN | TEXT, 'b')]),
      'a new message inside a fragmented one',
    ],
    ['a fragmented control frame', frame(PING, 'p'), 'invalid control frame'],
    ['an unknown opcode', frame(FIN | 0x03, 'x'), 'unknown opcode'],
  ];
  for (const [name, input, error] of cases) {
    const r = await run(input);
    t.equal(r.error, error, name);
    t.same(r.frames, [], `${name}: nothing relayed`);
  }
});

t.test(
  '64-bit lengths: a large message is re-framed with one; a huge declared length fails at once',
  async (t) => {
    const big = `${'y'.repeat(70_000)}${SECRET}`;
    /** A frame with the 64-bit length form (RFC 6455 §5.2). */
    const frame64 = (b0: number, payload: string) => {
      const head = Buffer.alloc(10);
      head[0] = b0;
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(Buffer.byteLength(payload)), 2);
      return Buffer.concat([head, Buffer.from(payload)]);
    };
    const input = Buffer.concat([
      frame(TEXT, big.slice(0, 1)),
      frame64(CONT, big.slice(1, -10)),
      frame(FIN | CONT, big.slice(-10)),
    ]);
    const r = await run(input, 4096, 100_000);
    t.equal(r.error, undefined);
    t.same(
      r.frames.map((f) => [f.opcode, f.text.length]),
      [[TEXT, big.length]],
      'one frame, whole message',
    );
    t.ok(r.frames[0]?.text.endsWith(stars), 'the secret at the end is overwritten');
    const huge = Buffer.alloc(10);
    huge[0] = FIN | TEXT;
    huge[1] = 127;
    huge.writeBigUInt64BE(2n ** 40n, 2);
    t.equal(
      (await run(huge, 10, 100_000)).error,
      'message larger than the cap',
      'refused from the header alone',
    );
    t.equal((await run(frame(FIN | 0x0b, 'x'))).error, 'unknown opcode', 'a reserved control opcode');
    const longPing = Buffer.concat([Buffer.from([FIN | PING, 126, 0, 126]), Buffer.alloc(126)]);
    t.equal((await run(longPing)).error, 'invalid control frame', 'a control frame over 125 bytes');
  },
);
