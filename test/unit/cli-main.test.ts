import t from 'tap';
import { main } from '../../src/cli/main.ts';
import { captureIo } from '../helpers/cli.ts';

export { captureIo } from '../helpers/cli.ts';

t.test('no arguments prints usage and exits 2', async (t) => {
  const c = captureIo();
  t.equal(await main([], c.io), 2);
  t.match(c.out(), /^usage: errand <command>/);
});

t.test('--help prints usage and exits 0', async (t) => {
  const c = captureIo();
  t.equal(await main(['--help'], c.io), 0);
  t.match(c.out(), /manifest lint/);
});

t.test('an unknown command names itself and exits 2', async (t) => {
  const c = captureIo();
  t.equal(await main(['frobnicate'], c.io), 2);
  t.match(c.err(), /^errand: unknown command 'frobnicate'/);
});
