import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * A fake /proc and /sys in a temporary folder, for the telemetry readers. Files are rewritten
 * in place (same inode), as the kernel's are, so a reader that keeps them open sees new values.
 * The new text goes over the old in one write before the file is cut to length: a reader in
 * between sees the new text (with an old tail at worst), never the empty file a truncate-first
 * rewrite would show it.
 */
export interface ProcFixture {
  procRoot: string;
  sysRoot: string;
  write(relativePath: string, text: string): void;
  remove(): void;
}

/** `parentDir`: where the tree's folder is made (a caller that removes one folder for many). */
export function procFixture(parentDir = tmpdir()): ProcFixture {
  const root = mkdtempSync(join(parentDir, 'iottly-proc-'));
  const procRoot = join(root, 'proc');
  const sysRoot = join(root, 'sys');
  mkdirSync(procRoot);
  mkdirSync(sysRoot);
  return {
    procRoot,
    sysRoot,
    write(relativePath, text) {
      const path = join(root, relativePath);
      mkdirSync(dirname(path), { recursive: true });
      const bytes = Buffer.from(text);
      const fd = openSync(path, existsSync(path) ? 'r+' : 'w'); // r+: keeps what is there
      try {
        writeSync(fd, bytes, 0, bytes.length, 0);
        ftruncateSync(fd, bytes.length);
      } finally {
        closeSync(fd);
      }
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** /proc/stat with the aggregate line built from the given jiffies. */
export function statText(c: {
  user: number;
  nice?: number;
  system: number;
  idle: number;
  iowait?: number;
  irq?: number;
  softirq?: number;
  steal?: number;
}): string {
  const fields = [
    c.user,
    c.nice ?? 0,
    c.system,
    c.idle,
    c.iowait ?? 0,
    c.irq ?? 0,
    c.softirq ?? 0,
    c.steal ?? 0,
    0,
    0,
  ];
  return `cpu  ${fields.join(' ')}\ncpu0 ${fields.join(' ')}\nintr 1 2 3\nctxt 42\nprocesses 99\n`;
}

export function meminfoText(kb: { total: number; free: number; available?: number }): string {
  return [
    `MemTotal:       ${kb.total} kB`,
    `MemFree:        ${kb.free} kB`,
    ...(kb.available === undefined ? [] : [`MemAvailable:   ${kb.available} kB`]),
    'Buffers:           1000 kB',
    'Cached:            3000 kB',
    'SwapTotal:            0 kB',
    '',
  ].join('\n');
}

export function netDevText(rows: { name: string; rx: number; tx: number }[]): string {
  const header =
    'Inter-|   Receive                                                |  Transmit\n' +
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';
  return (
    header +
    rows
      .map((r) => `${r.name.padStart(6)}: ${r.rx} 10 0 0 0 0 0 0 ${r.tx} 5 0 0 0 0 0 0`)
      .join('\n') +
    '\n'
  );
}

/** A minimal but complete tree: every built-in but temperature and disk reads from it. */
export function writeBasicProc(fixture: ProcFixture): void {
  writeCpuAndMemory(fixture);
  fixture.write('proc/loadavg', '0.52 0.58 0.59 1/467 12345\n');
  fixture.write('proc/uptime', '12498.96 24634.78\n');
  fixture.write(
    'proc/net/dev',
    netDevText([
      { name: 'lo', rx: 1, tx: 1 },
      { name: 'eth0', rx: 0, tx: 0 },
    ]),
  );
}

/**
 * Only what the default streams (cpu, memory, temperature) read, with a CPU thermal zone at
 * 47 °C: the smallest tree an agent samples from (every file a probe finds stays open).
 */
export function writeDefaultStreamsTree(fixture: ProcFixture): void {
  writeCpuAndMemory(fixture);
  fixture.write('sys/class/thermal/thermal_zone0/type', 'cpu-thermal\n');
  fixture.write('sys/class/thermal/thermal_zone0/temp', '47000\n');
}

function writeCpuAndMemory(fixture: ProcFixture): void {
  fixture.write('proc/stat', statText({ user: 100, system: 50, idle: 850 }));
  fixture.write(
    'proc/meminfo',
    meminfoText({ total: 1_000_000, free: 100_000, available: 400_000 }),
  );
}
