/**
 * `npm run bench:telemetry`: what a sample costs.
 *
 * 1. µs of CPU per sample for each built-in stream, and for the cpu+memory+temperature set,
 *    through the agent's real path (StreamTask → source → frame text), next to a bare
 *    read+parse floor written inline here and measured in the same run; their ratio (target
 *    ≤ 1.5×).
 * 2. Child processes started per sample: the sampler under `strace -f`, N rounds against one
 *    (target 0); without strace, the system-wide fork counter of /proc/stat as an upper bound.
 * 3. CPU per minute at 10 Hz for cpu+memory, a bare Node process against collectd (apt
 *    `collectd-core`, cpu and memory plugins, csv output in a temporary folder), both running
 *    side by side for `--seconds` and measured from /proc/<pid>/task/∗/schedstat.
 *
 * Flags: --samples N (per stream, default 20000), --seconds S (default 30).
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statfsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { probeBuiltins } from '../src/telemetry/builtin-sources.js';
import { TelemetryDefaults } from '../src/config/telemetry-schema.js';
import { NumberFileSource } from '../src/telemetry/sources/number-file-source.js';
import type { StreamSource } from '../src/telemetry/stream-source.js';
import { StreamTask } from '../src/telemetry/stream-task.js';
import { systemClock } from '../src/time/clock.js';
import { startCollectd } from './lib/collectd.js';
import { cpuNanos } from './lib/proc-stats.js';
import { reportRows } from './lib/results.js';

const flag = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const SAMPLES = flag('samples', 20_000);
const SECONDS = flag('seconds', 30);
const SAMPLER = fileURLToPath(new URL('./telemetry-sampler.mjs', import.meta.url));
const RATIO_TARGET = 1.5;

// ── 1. µs per sample ───────────────────────────────────────────────────────────────────────

/** A file opened once and read at offset 0: the floor's I/O, written without our classes. */
function bareFile(path: string): () => string {
  const fd = openSync(path, 'r');
  const buffer = Buffer.allocUnsafe(65536);
  return () => buffer.toString('latin1', 0, readSync(fd, buffer, 0, buffer.length, 0));
}

function floorCpu(): () => number {
  const read = bareFile('/proc/stat');
  let busy0 = 0;
  let total0 = 0;
  return () => {
    const text = read();
    const f = text.slice(5, text.indexOf('\n')).trim().split(' ');
    let total = 0;
    for (let i = 0; i < 8; i++) total += +(f[i] ?? 0);
    const busy = total - +(f[3] ?? 0) - +(f[4] ?? 0);
    const value = total > total0 ? ((busy - busy0) / (total - total0)) * 100 : 0;
    busy0 = busy;
    total0 = total;
    return value;
  };
}

function floorMemory(): () => number {
  const read = bareFile('/proc/meminfo');
  return () => {
    const text = read();
    const total = parseInt(text.slice(text.indexOf('MemTotal:') + 9), 10);
    const available = parseInt(text.slice(text.indexOf('MemAvailable:') + 13), 10);
    return ((total - available) / total) * 100;
  };
}

function floorNumber(path: string, scale = 1): () => number {
  const read = bareFile(path);
  return () => parseFloat(read()) * scale;
}

function floorNetwork(): () => number {
  const read = bareFile('/proc/net/dev');
  return () => {
    let rx = 0;
    for (const line of read().split('\n').slice(2)) {
      const colon = line.indexOf(':');
      if (colon > 0 && line.slice(0, colon).trim() !== 'lo')
        rx += +(
          line
            .slice(colon + 1)
            .trim()
            .split(/\s+/)[0] ?? 0
        );
    }
    return rx;
  };
}

function floorDisk(): () => number {
  return () => {
    const s = statfsSync('/');
    return ((s.blocks - s.bfree) / (s.blocks - s.bfree + s.bavail)) * 100;
  };
}

function cpuMicros(run: () => void, samples: number): number {
  for (let i = 0; i < Math.min(2000, samples); i++) run(); // warm up the JIT
  const start = process.cpuUsage();
  for (let i = 0; i < samples; i++) run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / samples;
}

/** The best of three alternating runs each: the least disturbed by whatever else runs. */
function compare(
  ours: () => void,
  floor: () => void,
  samples: number,
): { ours: number; floor: number } {
  let o = Infinity;
  let f = Infinity;
  for (let round = 0; round < 3; round++) {
    f = Math.min(f, cpuMicros(floor, samples));
    o = Math.min(o, cpuMicros(ours, samples));
  }
  return { ours: o, floor: f };
}

/** Bytes of frame text made, printed at the end so the work cannot be optimised away. */
let frameBytes = 0;

function taskFor(source: StreamSource): StreamTask {
  return new StreamTask({
    source,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    send: (stream, ts, value) => {
      // What Agent.emit and the outbox do with a sample: the frame, as text.
      frameBytes += JSON.stringify({
        type: 'telemetry',
        channel: 'telemetry',
        ts,
        payload: { device_id: 'bench', stream, ts, value },
      }).length;
    },
    reportError: (error) => {
      throw error;
    },
  });
}

// The agent's defaults: this machine's /proc and /sys, the automatic thermal zone.
const probes = probeBuiltins({
  ...TelemetryDefaults,
  thermalZone: '',
  networkInterfaces: [],
  clock: systemClock,
});
const temperatureProbe = probes.get('temperature');
// No thermal zone (CI, most VMs): measure the same code on another sysfs number file.
const sysfsStandIn = '/sys/class/net/lo/statistics/rx_bytes';
const temperatureSource: StreamSource | null = temperatureProbe?.ok
  ? temperatureProbe.source
  : existsSync(sysfsStandIn)
    ? new NumberFileSource('temperature', sysfsStandIn, 0.001)
    : null;

interface Row {
  stream: string;
  /** source.read(): our read + parse. */
  ours: number;
  floor: number;
  /** The whole per-sample path: timestamp, read, parse, deadband check, frame text. */
  withFrame: number;
}
const rows: Row[] = [];
const floors: Record<string, () => () => number> = {
  cpu: floorCpu,
  memory: floorMemory,
  load: () => floorNumber('/proc/loadavg'),
  uptime: () => floorNumber('/proc/uptime'),
  disk: floorDisk,
  'network.rx': floorNetwork,
  'network.tx': floorNetwork,
};
const sources = new Map<string, StreamSource>();
for (const [name, probe] of probes)
  if (probe.ok && name !== 'temperature') sources.set(name, probe.source);
if (temperatureSource) sources.set('temperature', temperatureSource);
/** The file the temperature stream reads, for its floor. */
const temperatureFile = temperatureProbe?.ok
  ? (temperatureProbe.source as NumberFileSource).path
  : sysfsStandIn;
floors.temperature = () => floorNumber(temperatureFile, 0.001);

for (const [name, source] of sources) {
  const task = taskFor(source);
  task.apply({ intervalMs: 86_400_000, deadband: null }, 86_400_000); // primed, never fires
  const floor = (floors[name] as () => () => number)();
  const r = compare(
    () => void source.read(),
    () => void floor(),
    SAMPLES,
  );
  const withFrame = cpuMicros(() => task.sampleNow(), SAMPLES);
  task.stop();
  rows.push({ stream: name, ...r, withFrame });
}
const set = ['cpu', 'memory', 'temperature'].filter((name) => sources.has(name));
const setSources = set.map((name) => sources.get(name) as StreamSource);
const setTasks = setSources.map((source) => taskFor(source));
const setFloors = set.map((name) => (floors[name] as () => () => number)());
const setResult = compare(
  () => setSources.forEach((source) => source.read()),
  () => setFloors.forEach((f) => f()),
  SAMPLES,
);
rows.push({
  stream: set.join('+'),
  ...setResult,
  withFrame: cpuMicros(() => setTasks.forEach((t) => t.sampleNow()), SAMPLES),
});

// ── 2. child processes per sample ──────────────────────────────────────────────────────────

function processSyscalls(rounds: number): number | null {
  const out = join(mkdtempSync(join(tmpdir(), 'iottly-strace-')), 'trace');
  const run = spawnSync(
    'strace',
    [
      '-f',
      '-qq',
      '-o',
      out,
      '-e',
      'trace=fork,vfork,clone,clone3,execve',
      process.execPath,
      SAMPLER,
      '--streams',
      sampled.join(','),
      '--rounds',
      String(rounds),
      '--interval-ms',
      '0',
    ],
    { encoding: 'utf8' },
  );
  if (run.error || run.status !== 0) return null;
  const lines = readFileSync(out, 'utf8').split('\n');
  rmSync(join(out, '..'), { recursive: true, force: true });
  // Threads (CLONE_THREAD) are Node's own pool; anything else is a new process.
  return lines.filter(
    (l) =>
      /\b(fork|vfork|execve)\(/.test(l) || (/\bclone3?\(/.test(l) && !l.includes('CLONE_THREAD')),
  ).length;
}

function systemForks(): number {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('processes '));
  return Number(line?.split(' ')[1] ?? 0);
}

const ROUNDS = 2000;
/** The sampler reads the real /sys: the temperature stand-in is not among its streams. */
const sampled = set.filter((name) => probes.get(name as never)?.ok);
const straced = [processSyscalls(1), processSyscalls(ROUNDS + 1)];
let children: { perSample: number; how: string };
if (
  straced[0] !== null &&
  straced[1] !== null &&
  straced[0] !== undefined &&
  straced[1] !== undefined
) {
  children = {
    perSample: (straced[1] - straced[0]) / (ROUNDS * sampled.length),
    how: `strace -f, ${ROUNDS} rounds of ${sampled.join('+')} against 1`,
  };
} else {
  const before = systemForks();
  for (let i = 0; i < ROUNDS; i++) setTasks.forEach((t) => t.sampleNow());
  children = {
    perSample: (systemForks() - before) / (ROUNDS * set.length),
    how: 'no strace: /proc/stat "processes" (system-wide, an upper bound)',
  };
}

// ── 3. CPU per minute at 10 Hz, against collectd ───────────────────────────────────────────

async function tenHertz(): Promise<{ ours: number; collectd: number | null }> {
  const ours = spawn(
    process.execPath,
    [SAMPLER, '--streams', 'cpu,memory', '--interval-ms', '100', '--seconds', String(SECONDS + 10)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const collectd = startCollectd(0.1);
  await new Promise<void>((resolve) => ours.stdout?.once('data', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 2000)); // past start-up on both sides
  const start = {
    ours: cpuNanos(ours.pid as number),
    collectd: collectd ? cpuNanos(collectd.pid) : 0,
  };
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  const end = {
    ours: cpuNanos(ours.pid as number),
    collectd: collectd ? cpuNanos(collectd.pid) : 0,
  };
  ours.kill('SIGTERM');
  const [, collectdRun] = await Promise.all([once(ours, 'exit'), collectd?.stop()]);
  const perMinute = (ns: number) => (ns / 1e9) * (60 / SECONDS);
  return {
    ours: perMinute(end.ours - start.ours),
    collectd: collectdRun?.wroteCsv ? perMinute(end.collectd - start.collectd) : null,
  };
}

const tenHz = await tenHertz();

// ── report ─────────────────────────────────────────────────────────────────────────────────

const fmt = (n: number, digits = 1) => n.toFixed(digits).padStart(7);
console.log(
  `\ntelemetry per-sample cost (CPU µs, best of 3 × ${SAMPLES} samples; floor = bare pread + parse, same run)`,
);
if (!temperatureProbe?.ok)
  console.log(
    `(no thermal zone here: "temperature" reads the sysfs file ${temperatureFile} through the same code)`,
  );
console.log('  stream                   read+parse   floor   ratio   whole sample (with frame)');
let worst = 0;
for (const row of rows) {
  const ratio = row.ours / row.floor;
  worst = Math.max(worst, ratio);
  console.log(
    `  ${row.stream.padEnd(22)} ${fmt(row.ours, 2)}    ${fmt(row.floor, 2)} ${fmt(ratio, 2)}×  ${fmt(row.withFrame, 2)}`,
  );
}
console.log(
  `  worst ratio ${worst.toFixed(2)}× (target ≤ ${RATIO_TARGET}×): ${worst <= RATIO_TARGET ? 'ok' : 'ABOVE TARGET'}`,
);
console.log(
  `\nchild processes per sample: ${children.perSample} (${children.how}; target 0): ${children.perSample === 0 ? 'ok' : 'FAIL'}`,
);
console.log(`\nCPU per minute at 10 Hz, cpu+memory, measured over ${SECONDS} s side by side:`);
console.log(`  iottly-agent sampler (bare Node)  ${tenHz.ours.toFixed(3)} s`);
if (tenHz.collectd === null)
  console.log('  collectd                          not run (apt-get install collectd-core)');
else {
  console.log(`  collectd (cpu, memory, csv)       ${tenHz.collectd.toFixed(3)} s`);
  console.log(
    `  ratio ${(tenHz.ours / tenHz.collectd).toFixed(2)}× (target ≤ 1): ${tenHz.ours <= tenHz.collectd ? 'ok' : 'ABOVE TARGET'}`,
  );
}
console.log(`\n(${(frameBytes / 1e6).toFixed(1)} MB of frame text made in part 1)`);
const setRow = rows[rows.length - 1] as Row;
reportRows([
  {
    figure: `telemetry CPU per sample (${setRow.stream}), read+parse`,
    unit: 'µs',
    better: 'lower',
    ours: setRow.ours,
    floor: setRow.floor,
    floorName: 'bare pread + parse, same run',
  },
  {
    figure: `telemetry CPU per sample (${setRow.stream}), with frame text`,
    unit: 'µs',
    better: 'lower',
    ours: setRow.withFrame,
    floor: setRow.floor,
    floorName: 'bare pread + parse, same run',
    note: 'adds the JSON frame the agent sends',
  },
  {
    figure: 'child processes started per sample',
    unit: 'processes',
    better: 'lower',
    ours: children.perSample,
    floor: null,
    floorName: 'target 0',
    note: children.how,
  },
  {
    figure: 'sampler CPU per minute, cpu+memory at 10 Hz',
    unit: 's/min',
    better: 'lower',
    ours: tenHz.ours,
    floor: null,
    floorName: 'none (peer only)',
    peer: {
      name: 'collectd (cpu, memory, csv)',
      value: tenHz.collectd,
      ...(tenHz.collectd === null ? { note: 'collectd-core not installed' } : {}),
    },
  },
]);
// The one hard invariant: the per-sample path never starts a process.
process.exitCode = children.perSample === 0 ? 0 : 1;
