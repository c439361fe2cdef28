import { chmod, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

// A subject in a memory cgroup of its own, as a pod's container limit puts Errand: Node sizes V8's
// heaps from that limit (docs/decisions/0010-young-generation-in-a-pod.md), so an unconstrained
// bench machine alone would not measure what a pod runs. Creating a cgroup needs root and a
// writable hierarchy; where there is none, the subject is left out and the run says why.

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** Bytes of a Kubernetes memory quantity ("256Mi", "1Gi", "500M", "268435456"). Throws on any other
 *  form: a limit the bench misread would measure a configuration no pod has. */
export function quantityBytes(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity.trim());
  if (!m) throw new Error(`not a memory quantity: ${JSON.stringify(quantity)}`);
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? ''] as number));
}

/** The chart's default memory limit for the sidecar (values.yaml `resources.limits.memory`). */
export function chartMemoryLimit(valuesYaml: string): string {
  const values = parse(valuesYaml) as { resources?: { limits?: { memory?: unknown } } } | null;
  const limit = values?.resources?.limits?.memory;
  if (typeof limit !== 'string' && typeof limit !== 'number')
    throw new Error('the chart sets no resources.limits.memory');
  return String(limit);
}

export interface MemoryCgroup {
  readonly version: 1 | 2;
  /** This process's own memory cgroup, as a directory under the mounted hierarchy. */
  readonly dir: string;
}

/** Where this process's memory cgroup is, from /proc/self/mountinfo and /proc/self/cgroup. Pure.
 *  The memory controller lives in one hierarchy: a v1 `memory` mount when there is one (hybrid
 *  hosts mount an empty v2 beside it), else the v2 mount. */
export function ownMemoryCgroup(mountinfo: string, procCgroup: string): MemoryCgroup | undefined {
  const mounts = mountinfo
    .split('\n')
    .filter((l) => l.includes(' - '))
    .map((l) => {
      const [before, after] = l.split(' - ') as [string, string];
      const f = before.split(' ');
      const [fstype, , superOptions] = after.split(' ');
      return { root: f[3] ?? '', point: f[4] ?? '', fstype, options: (superOptions ?? '').split(',') };
    });
  const paths = procCgroup
    .split('\n')
    .map((l) => /^(\d+):([^:]*):(.*)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ hierarchy: m[1], controllers: (m[2] as string).split(','), path: m[3] as string }));
  const under = (root: string, point: string, path: string): string | undefined => {
    if (root === '/') return join(point, path);
    return path === root || path.startsWith(`${root}/`) ? join(point, path.slice(root.length)) : undefined;
  };
  const v1 = mounts.find((m) => m.fstype === 'cgroup' && m.options.includes('memory'));
  if (v1 !== undefined) {
    const own = paths.find((p) => p.controllers.includes('memory'));
    const dir = own && under(v1.root, v1.point, own.path);
    return dir === undefined ? undefined : { version: 1, dir };
  }
  const v2 = mounts.find((m) => m.fstype === 'cgroup2');
  const own = paths.find((p) => p.hierarchy === '0' && p.controllers.join('') === '');
  const dir = v2 && own && under(v2.root, v2.point, own.path);
  return dir === undefined || dir === '' ? undefined : { version: 2, dir };
}

export interface LimitedNode {
  /** A script to run instead of node: it joins the cgroup, then execs node with its arguments. */
  readonly command: string;
  readonly cgroupDir: string;
  /** Removes the cgroup once the process in it has exited. */
  remove(): Promise<void>;
}

/** Makes a memory cgroup of `limitBytes` under `own` and a wrapper that runs `node` in it. Returns
 *  the reason instead when the hierarchy refuses (not root, or a v2 cgroup whose memory controller
 *  is not delegated to this process). */
export async function limitedNode(
  own: MemoryCgroup,
  node: string,
  dir: string,
  name: string,
  limitBytes: number,
): Promise<LimitedNode | { reason: string }> {
  const cgroupDir = join(own.dir, `errand-bench-${process.pid}-${name}`);
  if ([cgroupDir, node].some((p) => p.includes("'")))
    return { reason: 'a path holds a quote the wrapper cannot pass' };
  try {
    await mkdir(cgroupDir);
  } catch (error) {
    return { reason: `cannot create ${cgroupDir}: ${(error as NodeJS.ErrnoException).code ?? error}` };
  }
  const removeDir = async () => {
    // A v1 cgroup can be busy for a moment after its last process exited.
    for (let i = 0; i < 20; i++) {
      try {
        await rmdir(cgroupDir);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  try {
    await writeFile(
      join(cgroupDir, own.version === 1 ? 'memory.limit_in_bytes' : 'memory.max'),
      String(limitBytes),
    );
  } catch (error) {
    await removeDir();
    const why = (error as NodeJS.ErrnoException).code ?? String(error);
    return {
      reason:
        own.version === 2
          ? `cgroup v2: the memory controller is not delegated to ${own.dir} (${why})`
          : `cannot set the memory limit in ${cgroupDir} (${why})`,
    };
  }
  const command = join(dir, `${name}-in-cgroup.sh`);
  await writeFile(
    command,
    `#!/bin/sh\necho $$ > '${cgroupDir}/cgroup.procs' || exit 97\nexec '${node}' "$@"\n`,
  );
  await chmod(command, 0o700);
  return { command, cgroupDir, remove: removeDir };
}

const CHART_VALUES = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'helm',
  'errand',
  'values.yaml',
);

export interface PodLimited {
  /** The chart's default limit as the chart writes it ("256Mi"). */
  readonly limit: string;
  readonly node: LimitedNode | { readonly reason: string };
}

/** Node in a memory cgroup of the chart's default limit, or why this machine cannot have one. */
export async function podLimitedNode(node: string, dir: string, name: string): Promise<PodLimited> {
  let limit: string;
  try {
    limit = chartMemoryLimit(await readFile(CHART_VALUES, 'utf8'));
    quantityBytes(limit);
  } catch (error) {
    return { limit: 'unset', node: { reason: `helm/errand/values.yaml: ${(error as Error).message}` } };
  }
  const own = ownMemoryCgroup(
    await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''),
    await readFile('/proc/self/cgroup', 'utf8').catch(() => ''),
  );
  if (own === undefined) return { limit, node: { reason: 'no memory cgroup hierarchy is mounted' } };
  return { limit, node: await limitedNode(own, node, dir, name, quantityBytes(limit)) };
}
