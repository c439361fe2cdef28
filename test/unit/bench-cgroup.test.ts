import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import {
  chartMemoryLimit,
  limitedNode,
  ownMemoryCgroup,
  podLimitedNode,
  quantityBytes,
} from '../../bench/lib/cgroup.ts';

// The bench runs one Errand in a memory cgroup of the chart's default limit, as a pod runs it. These
// tests cover what decides that configuration: the limit read from the chart, where this process's
// memory cgroup is mounted, and the wrapper that puts Node into the new cgroup.

const execFileP = promisify(execFile);

t.test('Kubernetes memory quantities in bytes', async (t) => {
  const rows: [string, number][] = [
    ['256Mi', 268_435_456],
    ['1Gi', 1_073_741_824],
    ['512Ki', 524_288],
    ['500M', 500_000_000],
    ['1.5Gi', 1_610_612_736],
    ['268435456', 268_435_456],
  ];
  for (const [q, bytes] of rows) t.equal(quantityBytes(q), bytes, q);
  for (const bad of ['', '256 MiB', '256mi', '-1Gi', 'Mi', '1e9'])
    t.throws(() => quantityBytes(bad), /not a memory quantity/, JSON.stringify(bad));
});

t.test("the chart's default limit, from values.yaml", async (t) => {
  t.equal(chartMemoryLimit('resources:\n  limits:\n    memory: 512Mi\n'), '512Mi');
  t.equal(chartMemoryLimit('resources:\n  limits:\n    memory: 268435456\n'), '268435456');
  t.throws(
    () => chartMemoryLimit('resources:\n  requests:\n    memory: 96Mi\n'),
    /no resources.limits.memory/,
  );
  t.throws(() => chartMemoryLimit(''), /no resources.limits.memory/);
  const real = chartMemoryLimit(
    await readFile(join(import.meta.dirname, '../../helm/errand/values.yaml'), 'utf8'),
  );
  t.ok(quantityBytes(real) >= 64 * 2 ** 20, `the shipped chart limits Errand to ${real}`);
});

const V1_MOUNTS = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

t.test('a v1 memory hierarchy wins over the empty v2 mount of a hybrid host', async (t) => {
  const cgroup = '5:cpu,cpuacct:/\n4:memory:/process_api/abc\n0::/\n';
  t.same(ownMemoryCgroup(V1_MOUNTS, cgroup), { version: 1, dir: '/sys/fs/cgroup/memory/process_api/abc' });
});

t.test("a container's v1 mount whose root is its own cgroup", async (t) => {
  const mounts = '35 31 0:32 /kubepods/pod1/c1 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory';
  t.same(ownMemoryCgroup(mounts, '4:memory:/kubepods/pod1/c1\n'), {
    version: 1,
    dir: '/sys/fs/cgroup/memory',
  });
  t.same(ownMemoryCgroup(mounts, '4:memory:/kubepods/pod1/c1/sub\n'), {
    version: 1,
    dir: '/sys/fs/cgroup/memory/sub',
  });
  t.equal(ownMemoryCgroup(mounts, '4:memory:/elsewhere\n'), undefined, 'a cgroup outside the mount');
  t.equal(ownMemoryCgroup(mounts, '5:cpu:/kubepods\n'), undefined, 'no memory line');
});

t.test('a v2-only host', async (t) => {
  const mounts = '30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate';
  t.same(ownMemoryCgroup(mounts, '0::/user.slice/session-1.scope\n'), {
    version: 2,
    dir: '/sys/fs/cgroup/user.slice/session-1.scope',
  });
  t.equal(ownMemoryCgroup('', '0::/\n'), undefined, 'nothing mounted');
  t.equal(ownMemoryCgroup(mounts, ''), undefined, 'no /proc/self/cgroup');
});

t.test('the wrapper joins the cgroup and then is Node, under the same pid', async (t) => {
  // A plain directory stands in for the hierarchy: the wrapper writes its pid where the kernel's
  // cgroup.procs would take it, and the limit lands in the file the kernel reads.
  const own = await mkdtemp(join(tmpdir(), 'errand-cgroup-'));
  t.teardown(() => rm(own, { recursive: true, force: true }));
  const made = await limitedNode({ version: 1, dir: own }, process.execPath, own, 'subject', 268_435_456);
  if (!('command' in made)) throw new Error(made.reason);
  t.equal(await readFile(join(made.cgroupDir, 'memory.limit_in_bytes'), 'utf8'), '268435456');
  const { stdout } = await execFileP(made.command, ['-e', 'process.stdout.write(String(process.pid))']);
  t.equal(
    (await readFile(join(made.cgroupDir, 'cgroup.procs'), 'utf8')).trim(),
    stdout,
    'node has the pid that joined',
  );

  const v2 = await limitedNode({ version: 2, dir: own }, process.execPath, own, 'v2', 1024);
  if (!('command' in v2)) throw new Error(v2.reason);
  t.equal(await readFile(join(v2.cgroupDir, 'memory.max'), 'utf8'), '1024', 'v2 takes memory.max');
});

t.test('a hierarchy that refuses gives the reason, and nothing is left behind', async (t) => {
  const missing = join(tmpdir(), `errand-no-such-cgroup-${process.pid}`);
  const made = await limitedNode({ version: 1, dir: missing }, process.execPath, tmpdir(), 'x', 1024);
  t.match(made, { reason: /cannot create .*ENOENT/ });
  const quoted = await limitedNode({ version: 1, dir: "/tmp/it's" }, process.execPath, tmpdir(), 'x', 1024);
  t.match(quoted, { reason: /quote/ });
});

t.test('remove() deletes the cgroup once it is empty', async (t) => {
  const own = await mkdtemp(join(tmpdir(), 'errand-cgroup-'));
  t.teardown(() => rm(own, { recursive: true, force: true }));
  const made = await limitedNode({ version: 1, dir: own }, process.execPath, own, 'gone', 1024);
  if (!('command' in made)) throw new Error(made.reason);
  // A real cgroup's files vanish with it; a plain directory's must go first.
  await rm(join(made.cgroupDir, 'memory.limit_in_bytes'));
  await made.remove();
  await t.rejects(stat(made.cgroupDir), { code: 'ENOENT' }, 'the directory is gone');
  await made.remove(); // twice: a cgroup already gone is not an error
});

t.test("on this machine: Node in the wrapper sees the chart's limit as its memory", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-cgroup-run-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const limited = await podLimitedNode(process.execPath, dir, 'probe');
  if (!('command' in limited.node)) {
    t.plan(0, `no memory cgroup can be made here: ${limited.node.reason}`);
    return;
  }
  const made = limited.node;
  t.teardown(() => made.remove());
  // process.constrainedMemory() is what Node sizes V8's heaps from: the point of the cgroup.
  const { stdout } = await execFileP(made.command, [
    '-e',
    'process.stdout.write(String(process.constrainedMemory()))',
  ]);
  t.equal(Number(stdout), quantityBytes(limited.limit), `Node is limited to the chart's ${limited.limit}`);
});
