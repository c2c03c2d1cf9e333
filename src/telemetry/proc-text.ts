/**
 * Parsers for the kernel's text files, written for the per-sample path: index scans and
 * `parseInt`/`Number` on slices, no regular expressions and no splitting of the whole file.
 */

export interface CpuTimes {
  /** Jiffies spent doing anything but idling or waiting for I/O, all cores. */
  busy: number;
  total: number;
}

/** The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal … */
export function parseCpuTimes(stat: string): CpuTimes {
  if (!stat.startsWith('cpu ')) throw new Error('no aggregate "cpu" line in /proc/stat');
  const end = stat.indexOf('\n');
  const fields = stat
    .slice(4, end < 0 ? undefined : end)
    .trim()
    .split(/\s+/);
  if (fields.length < 4) throw new Error('the "cpu" line of /proc/stat has too few fields');
  // guest and guest_nice (fields 9, 10) are already counted in user and nice.
  let total = 0;
  for (let i = 0; i < Math.min(fields.length, 8); i++) total += Number(fields[i]);
  const idle = Number(fields[3]) + Number(fields[4] ?? 0);
  if (!Number.isFinite(total) || !Number.isFinite(idle))
    throw new Error('the "cpu" line of /proc/stat is not numeric');
  return { busy: total - idle, total };
}

/** A `Key:   123 kB` field of /proc/meminfo, in kB; undefined when the kernel lacks it. */
export function meminfoField(meminfo: string, key: string): number | undefined {
  const at = meminfo.startsWith(`${key}:`) ? 0 : meminfo.indexOf(`\n${key}:`);
  if (at < 0) return undefined;
  const start = at + (at === 0 ? 0 : 1) + key.length + 1;
  const value = parseInt(meminfo.slice(start, start + 32), 10);
  return Number.isNaN(value) ? undefined : value;
}

/** The first number in a text (`48312\n`, `0.52 0.58 0.59 1/467 12345`). */
export function firstNumber(text: string): number {
  const value = parseFloat(text);
  if (Number.isNaN(value)) throw new Error(`not a number: ${JSON.stringify(text.slice(0, 40))}`);
  return value;
}

export interface InterfaceBytes {
  name: string;
  rx: number;
  tx: number;
}

/** Per-interface byte counters from /proc/net/dev (two header lines, then `name: rx … tx …`). */
export function parseNetDev(text: string): InterfaceBytes[] {
  const out: InterfaceBytes[] = [];
  let lineStart = nthLineStart(text, 2);
  while (lineStart >= 0 && lineStart < text.length) {
    const lineEnd = text.indexOf('\n', lineStart);
    const line = text.slice(lineStart, lineEnd < 0 ? undefined : lineEnd);
    lineStart = lineEnd < 0 ? -1 : lineEnd + 1;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    const rx = Number(fields[0]);
    const tx = Number(fields[8]);
    if (Number.isFinite(rx) && Number.isFinite(tx))
      out.push({ name: line.slice(0, colon).trim(), rx, tx });
  }
  return out;
}

function nthLineStart(text: string, n: number): number {
  let at = 0;
  for (let i = 0; i < n; i++) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) return -1;
    at = nl + 1;
  }
  return at;
}
