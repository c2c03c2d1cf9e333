/**
 * What a process costs, read from /proc: CPU seconds, resident and private memory, open file
 * descriptors and live descendants. Shared by the benchmarks, the soak and the fleet run.
 */
import { readFileSync, readdirSync } from 'node:fs';

const USER_HZ = 100; // fixed at 100 on every Linux architecture we ship for

/** utime + stime of one process (all its threads), in seconds. */
export function cpuSeconds(pid: number, procRoot = '/proc'): number {
  const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/**
 * cutime + cstime of a process (this one by default), in seconds: the CPU of its children that
 * have ended and been reaped. Around one child's run this is that child's whole CPU, which
 * /proc/<child>/stat can no longer give once the child has exited.
 */
export function reapedChildrenCpuSeconds(
  pid: number | 'self' = 'self',
  procRoot = '/proc',
): number {
  const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / USER_HZ;
}

/**
 * Nanoseconds of CPU used so far by every thread of a process, from schedstat: at 1 Hz a
 * process uses a few ms a minute, below the 10 ms tick `cpuSeconds` counts in.
 */
export function cpuNanos(pid: number, procRoot = '/proc'): number {
  let total = 0;
  for (const tid of safeReaddir(`${procRoot}/${pid}/task`)) {
    total += Number(safeRead(`${procRoot}/${pid}/task/${tid}/schedstat`).split(' ')[0] || 0);
  }
  return total;
}

export interface MemoryFigures {
  /** VmRSS: everything resident, shared library pages included. */
  rssBytes: number;
  /** RssAnon: private anonymous pages, the part that grows when a process leaks. */
  rssAnonBytes: number;
}

export function memoryOf(pid: number, procRoot = '/proc'): MemoryFigures {
  const status = readFileSync(`${procRoot}/${pid}/status`, 'utf8');
  const kib = (key: string): number => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${key}`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: kib('VmRSS'), rssAnonBytes: kib('RssAnon') };
}

export function openFdCount(pid: number, procRoot = '/proc'): number {
  return readdirSync(`${procRoot}/${pid}/fd`).length;
}

/** The soft limit on open files of a process (this one by default), from /proc/<pid>/limits. */
export function openFileLimit(pid: number | 'self' = 'self', procRoot = '/proc'): number {
  const limits = readFileSync(`${procRoot}/${pid}/limits`, 'utf8');
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  if (!match) throw new Error(`/proc/${pid}/limits has no "Max open files"`);
  return match[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(match[1]);
}

/** Pids of every live descendant of `pid` (children, grandchildren…), zombies included. */
export function descendantsOf(pid: number, procRoot = '/proc'): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift() as number;
    for (const task of safeReaddir(`${procRoot}/${parent}/task`)) {
      const children = safeRead(`${procRoot}/${parent}/task/${task}/children`);
      for (const child of children.split(' ').filter(Boolean).map(Number)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return []; // the process ended between two reads
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * Pids of live processes whose environment holds `name=value`: finds what a command started
 * even after it was re-parented to init (a background job whose shell exited), which
 * `descendantsOf` no longer sees. Processes of other users or already gone are skipped.
 */
export function processesWithEnv(name: string, value: string, procRoot = '/proc'): number[] {
  const needle = `\0${name}=${value}\0`;
  const found: number[] = [];
  for (const entry of safeReaddir(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    if (`\0${safeRead(`${procRoot}/${entry}/environ`)}`.includes(needle)) found.push(Number(entry));
  }
  return found;
}
