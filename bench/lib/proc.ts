import { execFileSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';

// What Linux says about a process (proc(5)): CPU time and memory. The parsers are pure; the readers
// are thin I/O around them.

/** utime + stime of /proc/<pid>/stat, in clock ticks: CPU time of every thread of the process. */
export function parseCpuTicks(stat: string): number {
  // Field 2 (comm) is parenthesised and may contain spaces or ')': split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('unreadable /proc stat line');
  return utime + stime;
}

/** A `Vm*:  N kB` field of /proc/<pid>/status, in bytes (NaN when absent). */
export function parseStatusBytes(status: string, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** Clock ticks per second (USER_HZ), asked once per run. */
export function clockTicksPerSecond(): number {
  const out = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
  const hz = Number(out);
  return Number.isFinite(hz) && hz > 0 ? hz : 100;
}

export async function cpuTicks(pid: number): Promise<number> {
  return parseCpuTicks(await readFile(`/proc/${pid}/stat`, 'utf8'));
}

/** The first field of /proc/<pid>/task/<tid>/schedstat: nanoseconds the thread ran on a CPU. */
export function parseSchedstatNanos(schedstat: string): number {
  const ns = Number(schedstat.split(' ')[0]);
  if (!Number.isSafeInteger(ns) || ns < 0) throw new Error('unreadable schedstat line');
  return ns;
}

/** CPU time of every live thread of a process in nanoseconds: finer than clock ticks (10 ms), for
 *  runs of a few hundred requests. A thread that exited in between is not counted. */
export async function cpuNanos(pid: number): Promise<number> {
  let total = 0;
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    try {
      total += parseSchedstatNanos(await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8'));
    } catch {
      // the thread exited after the listing
    }
  }
  return total;
}

export async function memory(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return { rss: parseStatusBytes(status, 'VmRSS'), hwm: parseStatusBytes(status, 'VmHWM') };
}

/** Resets the peak-RSS mark (VmHWM) of a process: writing 5 to clear_refs (proc(5), Linux 4.0+). */
export async function resetPeakRss(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}
