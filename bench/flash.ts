/**
 * `npm run bench:flash`: what the agent writes to its storage per hour, the wear an SD card
 * sees, beside the bytes of the messages themselves.
 *
 *   scenarios  telemetry at the defaults (cpu, memory, temperature every 10 s) and at 1 Hz,
 *              each online (connected to a hub process that acknowledges) and during an outage
 *              (the server refuses the connection: every message waits in the spool)
 *   modes      memory first (`storage.writeBeforeSend=false`, the default) and write before
 *              send (`true`, how the spool worked before), the peer in each row
 *   figures    bytes written (`write_bytes` of /proc/PID/io: pages the process dirtied, which is
 *              what reaches the flash), fsyncs (fsync + fdatasync) and renames, counted by
 *              `strace -c` attached to each agent for the window, scaled to an hour
 *   floor      the messages' own bytes per hour (their JSON as a stream client receives it)
 *
 * All eight agents run at once for `--seconds` (default 60) after each is up and has sent its
 * first message (start-up writes are not counted). strace needs the `strace` package; without
 * it the fsync and rename rows say so.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { spawnAgent, statusIs, type AgentProcess } from '../test/helpers/agent-process.js';
import { STOPPED_BY_CALLER } from '../test/helpers/owner.js';
import { API_KEY } from '../test/helpers/ws.js';
import { startHubProcess } from './lib/hub-process.js';
import { reportRows, type BenchRow } from './lib/results.js';

const SECONDS = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 60;
const STREAMS = ['cpu', 'memory', 'temperature'];
const HOUR_S = 3_600;

interface Scenario {
  name: string;
  intervalMs: number;
  online: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: 'defaults (3 streams / 10 s), online', intervalMs: 10_000, online: true },
  { name: 'defaults (3 streams / 10 s), outage', intervalMs: 10_000, online: false },
  { name: '3 streams at 1 Hz, online', intervalMs: 1_000, online: true },
  { name: '3 streams at 1 Hz, outage', intervalMs: 1_000, online: false },
];

const MODES = [
  { name: 'memory first', writeBeforeSend: 'false' },
  { name: 'write before send', writeBeforeSend: 'true' },
] as const;

interface Running {
  scenario: Scenario;
  mode: (typeof MODES)[number];
  deviceId: string;
  agent: AgentProcess;
  strace: ChildProcess | null;
  straceOut: string;
  writeBytesAtStart: number;
}

interface Figures {
  writeBytes: number;
  fsyncs: number | null;
  renames: number | null;
}

function writeBytes(pid: number): number {
  const line = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return Number(line?.[1] ?? 0);
}

const hasStrace = spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;

/** Counts the agent's fsync and rename calls until stopped (strace -c prints the sums then). */
function traceSyscalls(pid: number, out: string): ChildProcess | null {
  if (!hasStrace) return null;
  return spawn(
    'strace',
    [
      '-f',
      '-c',
      '-o',
      out,
      '-e',
      'trace=fsync,fdatasync,rename,renameat,renameat2',
      '-p',
      `${pid}`,
    ],
    { stdio: 'ignore' },
  );
}

/** The `calls` column of an `strace -c` summary, by syscall. */
function syscallCounts(summary: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of summary.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const name = fields.at(-1);
    const calls = Number(fields[3]);
    if (fields.length >= 5 && name && /^[a-z0-9]+$/.test(name) && Number.isFinite(calls))
      counts.set(name, calls);
  }
  return counts;
}

/** Sums the bytes of each device's telemetry as relayed to a /v1/stream client. */
async function messageBytesClient(
  wsUrl: string,
  devices: string[],
): Promise<{ bytes: (deviceId: string) => number; close(): void }> {
  const ws = new WebSocket(`${wsUrl}/v1/stream?api_key=${API_KEY}`, { perMessageDeflate: false });
  await once(ws, 'open');
  const bytes = new Map<string, number>();
  ws.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString()) as { type: string; payload?: { device_id?: string } };
    const deviceId = frame.payload?.device_id;
    if (frame.type !== 'telemetry' || !deviceId) return;
    bytes.set(deviceId, (bytes.get(deviceId) ?? 0) + data.length);
  });
  for (const deviceId of devices) {
    ws.send(
      JSON.stringify({
        type: 'subscribe',
        request_id: deviceId,
        payload: { device_id: deviceId, streams: STREAMS },
      }),
    );
  }
  return { bytes: (deviceId) => bytes.get(deviceId) ?? 0, close: () => ws.close() };
}

/** A /sys with one CPU thermal zone, so temperature is sampled on a VM without one. */
function thermalFixture(root: string): string {
  const zone = join(root, 'sys', 'class', 'thermal', 'thermal_zone0');
  mkdirSync(zone, { recursive: true });
  writeFileSync(join(zone, 'type'), 'cpu-thermal\n');
  writeFileSync(join(zone, 'temp'), '47000\n');
  return join(root, 'sys');
}

async function stopTrace(strace: ChildProcess | null): Promise<void> {
  // strace ends by SIGINT: then exitCode stays null and signalCode says so.
  if (!strace || strace.exitCode !== null || strace.signalCode !== null) return;
  strace.kill('SIGINT');
  await once(strace, 'exit');
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-flash-'));
  const sysRoot = thermalFixture(work);
  const plan = SCENARIOS.flatMap((scenario, s) =>
    MODES.map((mode, m) => ({ scenario, mode, deviceId: `flash-${s}-${m}`, token: `t-${s}-${m}` })),
  );
  const hub = await startHubProcess(new Map(plan.map((p) => [p.deviceId, p.token])), API_KEY);
  const running: Running[] = [];
  try {
    const client = await messageBytesClient(
      hub.wsUrl,
      plan.map((p) => p.deviceId),
    );
    for (const { scenario, mode, deviceId, token } of plan) {
      const agent = spawnAgent(STOPPED_BY_CALLER, ['run'], {
        // Nothing listens on port 9 (discard) here: the outage agents dial and are refused.
        IOTTLY_SERVER_URL: scenario.online
          ? `${hub.wsUrl}/v1/device`
          : 'ws://127.0.0.1:9/v1/device',
        IOTTLY_DEVICE_ID: deviceId,
        IOTTLY_AUTH_TOKEN: token,
        IOTTLY_TELEMETRY_STREAMS: STREAMS.join(','),
        IOTTLY_TELEMETRY_INTERVAL_MS: String(scenario.intervalMs),
        IOTTLY_TELEMETRY_SYS_ROOT: sysRoot,
        IOTTLY_TELEMETRY_THERMAL_ZONE: 'thermal_zone0',
        IOTTLY_STORAGE_WRITE_BEFORE_SEND: mode.writeBeforeSend,
        IOTTLY_LOCAL_ENABLED: 'false',
        IOTTLY_LOG_LEVEL: 'info',
      });
      running.push({
        scenario,
        mode,
        deviceId,
        agent,
        strace: null,
        straceOut: join(work, `${deviceId}.strace`),
        writeBytesAtStart: 0,
      });
    }
    for (const r of running) {
      if (r.scenario.online) await r.agent.waitForLog(statusIs('online'), 60_000);
      else await r.agent.waitForLog((l) => l.msg === 'spool opened', 60_000);
    }
    // Past start-up: the first samples are taken (and the seq reservation written).
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const bytesAtStart = new Map(running.map((r) => [r.deviceId, client.bytes(r.deviceId)]));
    for (const r of running) {
      const pid = r.agent.child.pid as number;
      r.writeBytesAtStart = writeBytes(pid);
      r.strace = traceSyscalls(pid, r.straceOut);
    }
    console.log(`node ${process.version}, ${SECONDS} s window, 8 agents at once\n`);
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1_000));

    const figures = new Map<string, Figures>();
    for (const r of running) {
      const written = writeBytes(r.agent.child.pid as number) - r.writeBytesAtStart;
      await stopTrace(r.strace);
      const counts = r.strace ? syscallCounts(readFileSync(r.straceOut, 'utf8')) : null;
      const sum = (names: string[]): number | null =>
        counts ? names.reduce((n, name) => n + (counts.get(name) ?? 0), 0) : null;
      figures.set(r.deviceId, {
        writeBytes: written,
        fsyncs: sum(['fsync', 'fdatasync']),
        renames: sum(['rename', 'renameat', 'renameat2']),
      });
    }
    const perHour = (n: number): number => (n * HOUR_S) / SECONDS;
    const rows: BenchRow[] = [];
    const print = (name: string, ...cells: string[]): void =>
      console.log(`${name.padEnd(44)} ${cells.map((c) => c.padStart(18)).join(' ')}`);
    print('per hour', 'bytes written', 'fsyncs', 'renames', 'message bytes');
    for (const [s, scenario] of SCENARIOS.entries()) {
      // Message bytes: what the online agents' client received; an outage makes the same.
      const online = running.find(
        (r) => r.scenario.intervalMs === scenario.intervalMs && r.scenario.online,
      );
      const messageBytes = online
        ? perHour(client.bytes(online.deviceId) - (bytesAtStart.get(online.deviceId) ?? 0))
        : 0;
      const ours = figures.get(`flash-${s}-0`) as Figures;
      const before = figures.get(`flash-${s}-1`) as Figures;
      for (const [m, mode] of MODES.entries()) {
        const f = m === 0 ? ours : before;
        print(
          `${scenario.name}, ${mode.name}`,
          `${(perHour(f.writeBytes) / 1024).toFixed(0)} KiB`,
          f.fsyncs === null ? 'no strace' : perHour(f.fsyncs).toFixed(0),
          f.renames === null ? 'no strace' : perHour(f.renames).toFixed(0),
          `${(messageBytes / 1024).toFixed(0)} KiB`,
        );
      }
      const peerName = 'write before send (the spool before memory first)';
      rows.push({
        figure: `flash: bytes written per hour, ${scenario.name}`,
        unit: 'KiB/h',
        better: 'lower',
        ours: perHour(ours.writeBytes) / 1024,
        floor: messageBytes / 1024,
        floorName: 'the messages themselves (their JSON as relayed)',
        peer: { name: peerName, value: perHour(before.writeBytes) / 1024 },
      });
      for (const what of ['fsyncs', 'renames'] as const) {
        const value = ours[what];
        if (value === null) continue;
        rows.push({
          figure: `flash: ${what} per hour, ${scenario.name}`,
          unit: '/h',
          better: 'lower',
          ours: perHour(value),
          floor: null,
          floorName: 'none (peer only)',
          peer: { name: peerName, value: perHour(before[what] ?? 0) },
        });
      }
    }
    if (!hasStrace)
      console.log('\nfsyncs and renames: strace not installed (apt-get install strace)');
    reportRows(rows);
    client.close();
  } finally {
    for (const r of running) {
      await stopTrace(r.strace);
      await r.agent.kill('SIGTERM');
    }
    await hub.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
