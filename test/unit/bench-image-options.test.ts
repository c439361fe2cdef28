import { readFile } from 'node:fs/promises';
import t from 'tap';
import { DOCKERFILE, imageNodeOptions } from '../../bench/lib/image.ts';

// The bench runs Errand with the NODE_OPTIONS the image sets, read from the Dockerfile itself, so a
// change of the image's heap configuration is what the next bench measures.

t.test('the NODE_OPTIONS of an ENV assignment, quoted or not, in a continued ENV or alone', async (t) => {
  const rows: [string, string][] = [
    ['ENV NODE_OPTIONS=--max-semi-space-size=16', '--max-semi-space-size=16'],
    ['ENV A=1 \\\n    NODE_OPTIONS=--max-semi-space-size=8 \\\n    B=2', '--max-semi-space-size=8'],
    [
      'ENV NODE_OPTIONS="--max-semi-space-size=4 --enable-source-maps"',
      '--max-semi-space-size=4 --enable-source-maps',
    ],
    [
      '# ENV NODE_OPTIONS=--commented-out\nENV NODE_OPTIONS=--max-semi-space-size=2',
      '--max-semi-space-size=2',
    ],
  ];
  for (const [text, want] of rows) t.equal(imageNodeOptions(text), want, text);
});

t.test('a Dockerfile without NODE_OPTIONS is refused, not benched as something else', async (t) => {
  t.throws(() => imageNodeOptions('FROM base\nENV NODE_ENV=production\n'), /sets no NODE_OPTIONS/);
  t.throws(() => imageNodeOptions('# NODE_OPTIONS=--max-semi-space-size=16\n'), /sets no NODE_OPTIONS/);
  t.throws(() => imageNodeOptions('ENV MY_NODE_OPTIONS=--x\n'), /sets no NODE_OPTIONS/);
});

t.test("the image's own value", async (t) => {
  t.equal(imageNodeOptions(await readFile(DOCKERFILE, 'utf8')), '--max-semi-space-size=16');
});
