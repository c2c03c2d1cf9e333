/**
 * `npm run soak -- --minutes N [--json out.json] [--interval-ms 100]`: does the agent stay flat?
 *
 *     `iottly-agent run` ──▶ FaultProxy (here) ──▶ `iottly-agent hub` (process)
 *      disk spool, cpu+memory+temperature           └──▶ SoakClient (here, /v1/stream):
 *      every --interval-ms (10 Hz)                        subscribed to all three streams,
 *                                                         a command every 3 s (COMMAND_MIX)
 *
 * Every minute the link between agent and hub is cut for 10–15 s (a silent blackhole, every third
 * time a reset). Commands go on during the cuts: one sent into a link the hub has not yet found
 * dead must come back `request_lost` once the agent reconnects, one sent after it found out
 * `device_offline`. The agent process is read from /proc every second (RssAnon, RSS, open fds,
 * descendants, and any process carrying this run's mark in its environment), its V8 heap comes
 * from its own `vitals` log line; a row is printed every 10 s. The hub's RssAnon is read too, and
 * the hub runs with V8's --trace-gc: the heap its full collections leave is what it keeps
 * (reported, not judged: under this load it makes few of them).
 *
 * The agent runs with a device's NODE_OPTIONS (src/cli/node-flags.ts; --node-options= for V8's
 * defaults) and with its inspector on a loopback port, through which the soak forces a full
 * collection every --gc-every-s (10 s) and reads the heap and RssAnon right after it
 * (soak/heap-probe.ts says why: V8's own schedule, not a leak, decides RssAnon for minutes).
 *
 * The run fails (exit 1) when, after the warm-up (the first 2 minutes, or 20 % of a longer run):
 * - the live heap (used right after a forced full collection) grows faster than 30 MiB/h, or
 *   RssAnon right after one grows faster than 5 MiB/h, judged only from 16 minutes on (native
 *   memory settles by then), so a run shorter than about 25 minutes judges the live heap only:
 *   the lower bound of the one-sided 99 % interval of the slope is above the limit (see
 *   soak/growth.ts for why this rule, and LIVE_HEAP_LIMIT_MIB_PER_HOUR for why 30). With
 *   --gc-every-s 0, RssAnon's 30-second minima are judged from V8's own first full collection
 *   (LogReader.firstFullGcMs), as before;
 * - the fd floor (30-second minimum) ends more than 3 above where it started;
 * - a process of a command is alive while no command is in flight, or at the end;
 * - a command got no final answer within 60 s, or a wrong one (`device_offline` and
 *   `request_lost` are right for a command sent while the link was cut);
 * - a seq is missing or repeated at the client (the spool promises every message once, in order);
 * - the agent exits on its own, or not cleanly on SIGTERM.
 */
import {
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseArgs } from 'node:util';
import {
  CLI_PATH,
  spawnAgentCommand,
  statusIs,
  type AgentProcess,
} from '../test/helpers/agent-process.js';
import { DEVICE_NODE_OPTIONS } from '../src/cli/node-flags.js';
import { LogCode } from '../src/log/log-codes.js';
import { FaultProxy, type ProxyMode } from '../test/helpers/fault-proxy.js';
import { STOPPED_BY_CALLER } from '../test/helpers/owner.js';
import {
  cpuSeconds,
  descendantsOf,
  memoryOf,
  openFdCount,
  processesWithEnv,
} from './lib/proc-stats.js';
import { reportRows, type BenchRow } from './lib/results.js';
import { COMMAND_MIX } from './soak/command-mix.js';
import { fullCollections, type FullCollection } from './soak/gc-trace.js';
import {
  growthOf,
  slopePerHour,
  windowMinima,
  type Growth,
  type TimedValue,
} from './soak/growth.js';
import { HeapProbe, inspectorUrl } from './soak/heap-probe.js';
import { SoakClient } from './soak/soak-client.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    json: { type: 'string' },
    'interval-ms': { type: 'string', default: '100' },
    /** The agent's NODE_OPTIONS: a device's (the unit's) unless told; '' for V8's defaults. */
    'node-options': { type: 'string', default: DEVICE_NODE_OPTIONS },
    'gc-every-s': { type: 'string', default: '10' },
    /** A deliberate leak in the agent (soak/leak.mjs), to check that the rule catches it. */
    'leak-bytes-per-s': { type: 'string', default: '0' },
    /** Node flags on the agent's command line: V8 flags NODE_OPTIONS refuses (--optimize-for-size). */
    'node-args': { type: 'string', default: '' },
    /** KEY=VALUE for the agent's environment (an experiment: MALLOC_ARENA_MAX=2…); repeatable. */
    'agent-env': { type: 'string', multiple: true, default: [] },
  },
});
const MINUTES = Number(values.minutes);
const SAMPLE_INTERVAL_MS = Number(values['interval-ms']);
/** How often the soak forces a full collection in the agent and reads it after (0: never). */
const GC_EVERY_MS = Number(values['gc-every-s']) * 1000;
const LEAK_BYTES_PER_S = Number(values['leak-bytes-per-s']);
if (
  !(MINUTES > 0) ||
  !(SAMPLE_INTERVAL_MS >= 1) ||
  !(GC_EVERY_MS >= 0) ||
  !(LEAK_BYTES_PER_S >= 0)
) {
  console.error(
    'usage: npm run soak -- --minutes N [--json out.json] [--interval-ms MS] [--gc-every-s S] [--node-options=FLAGS]',
  );
  process.exit(2);
}

const RUN_MS = MINUTES * 60_000;
/** At least 2 minutes (the first partition and its drain), 20 % of a long run, half of a short one. */
const WARMUP_MS = Math.min(Math.max(120_000, RUN_MS * 0.2), RUN_MS / 2);
const PROC_EVERY_MS = 1_000;
const ROW_EVERY_MS = 10_000;
const COMMAND_EVERY_MS = 3_000;
const PARTITION_EVERY_MS = 60_000;
const GROWTH_WINDOW_MS = 30_000;
const RSS_ANON_LIMIT_MIB_PER_HOUR = 5;
/**
 * What the agent keeps alive (its heap right after a forced full collection) may grow by this
 * much an hour, on the same lower-bound rule, from the end of the warm-up. Not 5: in its first
 * minutes the agent's live heap still grows by itself (compiled code, inline caches, the first
 * commands' modules: 10.3 → 11.4 MiB in the first 4.5 minutes of a run, about 10 MiB/h), so a
 * 5-minute run can only tell a gross leak from warm-up. 30 MiB/h is 8.5 KiB a second: 290 bytes
 * kept per telemetry message at 10 Hz × 3 streams, or 25 KiB per command every 3 s.
 */
const LIVE_HEAP_LIMIT_MIB_PER_HOUR = 30;
/**
 * RssAnon (the 5 MiB/h rule) is judged after forced collections only from here on: native
 * memory (RssAnon beyond V8's committed heap: JIT code, malloc's arenas) rises by itself for
 * minutes even when the heap is collected every few seconds (6.1 → 9.4 MiB in the first 4.5
 * minutes), and the 80-minute run settled after about 16 minutes.
 */
const NATIVE_WARMUP_MS = 16 * 60_000;
const FD_TOLERANCE = 3;
/** A command unanswered this long after it was sent is reported as lost. */
const COMMAND_DEADLINE_MS = 60_000;
const STREAMS = ['cpu', 'memory', 'temperature'];
const API_KEY = 'soak-key';
const DEVICE = 'soak-device';
const TOKEN = 'soak-token';
const MARK = { name: 'IOTTLY_SOAK_RUN', value: randomBytes(6).toString('hex') };
const MiB = 1024 * 1024;

interface ProcSample {
  tMs: number;
  rssBytes: number;
  rssAnonBytes: number;
  fds: number;
  children: number;
}

/** The agent right after a full collection the soak forced (see soak/heap-probe.ts). */
interface AfterGcSample {
  tMs: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  rssAnonBytes: number;
}

interface Row extends ProcSample {
  link: string;
  heapUsedBytes: number | null;
  /** V8's committed heap: RssAnon beyond it is native memory (buffers, malloc). */
  heapTotalBytes: number | null;
  telemetryPerS: number;
  commands: string;
  hubRssAnonBytes: number;
}

const work = mkdtempSync(join(tmpdir(), 'iottly-soak-'));
const failures: string[] = [];
const samples: ProcSample[] = [];
const rows: Row[] = [];
const afterGc: AfterGcSample[] = [];
const strays: string[] = [];
/** The agent's CPU (user + system) over the run, in % of one core; NaN until the run ends. */
let agentCpuPercent = Number.NaN;

/**
 * A thermal zone under a fixture /sys (this machine may have none), its reading moving. The
 * value is rewritten in place at offset 0, always five digits: a truncate-and-write would let
 * the agent read an empty file now and then, a read failure sysfs never shows.
 */
function thermalFixture(): { sysRoot: string; tick(tMs: number): void } {
  const sysRoot = join(work, 'sys');
  const zone = join(sysRoot, 'class/thermal/thermal_zone0');
  mkdirSync(zone, { recursive: true });
  writeFileSync(join(zone, 'type'), 'cpu-thermal\n');
  writeFileSync(join(zone, 'temp'), '48000\n');
  const fd = openSync(join(zone, 'temp'), 'r+');
  const tick = (tMs: number): void => {
    writeSync(fd, `${Math.round(48_000 + 4_000 * Math.sin(tMs / 60_000))}\n`, 0);
  };
  return { sysRoot, tick };
}

/**
 * The hub runs with V8's --trace-gc: its full collections (gc-trace.ts) say what heap it keeps,
 * which its RssAnon alone does not (see the report's `hub V8 heap` line).
 */
async function startHub(): Promise<{ hub: AgentProcess; port: number; startedMs: number }> {
  const startedMs = performance.now();
  const hub = spawnAgentCommand(STOPPED_BY_CALLER, process.execPath, [
    '--trace-gc',
    CLI_PATH,
    'hub',
    '--port',
    '0',
    '--api-key',
    API_KEY,
    '--device-token',
    `${DEVICE}=${TOKEN}`,
    // The hub notices a silent link within 2 s, as a production hub does within its own limits.
    '--ping-interval-ms',
    '1000',
    '--pong-timeout-ms',
    '1000',
    // debug: the hub's few debug lines (a reply with no open request…) explain a seq gap.
    '--log-level',
    'debug',
  ]);
  const line = await hub.waitForLog((l) => l.msg === 'hub listening', 10_000);
  return { hub, port: Number(new URL(String(line.url)).port), startedMs };
}

function startAgent(proxyPort: number, sysRoot: string): AgentProcess {
  const nodeArgs = [
    ...(GC_EVERY_MS > 0 ? ['--inspect=127.0.0.1:0'] : []),
    ...values['node-args'].split(' ').filter(Boolean),
    ...(LEAK_BYTES_PER_S > 0 ? ['--import', new URL('./soak/leak.mjs', import.meta.url).href] : []),
  ];
  return spawnAgentCommand(STOPPED_BY_CALLER, process.execPath, [...nodeArgs, CLI_PATH, 'run'], {
    IOTTLY_SERVER_URL: `ws://127.0.0.1:${proxyPort}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE,
    IOTTLY_AUTH_TOKEN: TOKEN,
    IOTTLY_STORAGE_DIR: join(work, 'spool'),
    // A silent link is noticed within 8 s, inside every 10–15 s partition.
    IOTTLY_HEARTBEAT_INTERVAL_MS: '5000',
    IOTTLY_HEARTBEAT_TIMEOUT_MS: '3000',
    IOTTLY_RECONNECT_INITIAL_DELAY_MS: '500',
    IOTTLY_RECONNECT_MAX_DELAY_MS: '4000',
    IOTTLY_RECONNECT_DIAL_TIMEOUT_MS: '3000',
    IOTTLY_TELEMETRY_STREAMS: STREAMS.join(','),
    IOTTLY_TELEMETRY_INTERVAL_MS: String(SAMPLE_INTERVAL_MS),
    IOTTLY_TELEMETRY_MIN_INTERVAL_MS: String(SAMPLE_INTERVAL_MS),
    IOTTLY_TELEMETRY_SYS_ROOT: sysRoot,
    IOTTLY_VITALS_INTERVAL_S: String(ROW_EVERY_MS / 1000),
    IOTTLY_LOG_LEVEL: 'info', // the production default: its log lines are part of the cost
    ...(values['node-options'] === '' ? {} : { NODE_OPTIONS: values['node-options'] }),
    ...(LEAK_BYTES_PER_S > 0 ? { SOAK_LEAK_BYTES_PER_S: String(LEAK_BYTES_PER_S) } : {}),
    ...Object.fromEntries(
      values['agent-env'].map((pair) => [
        pair.slice(0, pair.indexOf('=')),
        pair.slice(pair.indexOf('=') + 1),
      ]),
    ),
  });
}

/**
 * What the soak reads from a process's log lines: its newest heap figure and link status, and
 * every warning or debug line (they explain a failure). The lines are then let go, so an hour's log does not
 * pile up here.
 */
class LogReader {
  heapUsedBytes: number | null = null;
  heapTotalBytes: number | null = null;
  /**
   * When V8's first full collection showed, in ms of the run: the heap figure fell by a quarter
   * (and at least 2 MiB) from one vitals line to the next. Until then V8 lets promoted garbage
   * pile up in the old generation (about 1 MiB a minute under this load, for 6–7 minutes) and
   * the pages it takes stay resident after: RssAnon climbs without any leak. Young-generation
   * scavenges move the figure far less than that. A fall within the warm-up does not count:
   * it is start-up garbage being collected (at 0:19 in every 5-minute run, heap 14–15 → 10–11
   * MiB, at 98926c4 as after it), after which promoted garbage piles up just the same, and a
   * 5-minute run judged from there failed on that climb without any leak.
   */
  firstFullGcMs: number | null = null;
  link = '?';
  readonly warnings: string[] = [];
  #count = 0;

  constructor(readonly name: string) {}

  take(child: AgentProcess, atMs: number): void {
    for (const line of child.logs) {
      if (line.code === LogCode.vitals) {
        const { heapUsed, heapTotal } = line.memory as { heapUsed: number; heapTotal: number };
        const before = this.heapUsedBytes;
        if (
          this.firstFullGcMs === null &&
          atMs >= WARMUP_MS &&
          before !== null &&
          before - heapUsed >= Math.max(2 * MiB, before / 4)
        )
          this.firstFullGcMs = atMs;
        this.heapUsedBytes = heapUsed;
        this.heapTotalBytes = heapTotal;
      }
      if (line.status) this.link = line.status.kind;
      if (['debug', 'warn', 'error', 'fatal'].includes(line.level) && ++this.#count <= 30)
        this.warnings.push(`${formatTime(atMs)} ${this.name} ${line.code ?? ''} ${line.msg}`);
    }
    child.logs.length = 0;
  }

  get warningCount(): number {
    return this.#count;
  }
}

function describeProcess(pid: number): string {
  try {
    return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()}`;
  } catch {
    return `${pid} (gone)`;
  }
}

/** 0 once the process is gone (its exit handler reports that). */
function rssAnonOrZero(pid: number): number {
  try {
    return memoryOf(pid).rssAnonBytes;
  } catch {
    return 0;
  }
}

function mib(bytes: number | null): string {
  return bytes === null ? '—' : (bytes / MiB).toFixed(1);
}

function perHour(growth: Growth, unit: string, digits = 1): string {
  if (Number.isNaN(growth.perHour)) return `— (${growth.windows} windows: too short)`;
  const bounds = Number.isNaN(growth.lowerPerHour)
    ? ''
    : ` (99 % bounds ${growth.lowerPerHour.toFixed(digits)} … ${growth.upperPerHour.toFixed(digits)})`;
  return `${growth.perHour.toFixed(digits)} ${unit}/h${bounds}, ${growth.windows} windows`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function main(): Promise<void> {
  const thermal = thermalFixture();
  const { hub, port, startedMs: hubStartedMs } = await startHub();
  const proxy = await FaultProxy.start(STOPPED_BY_CALLER, port);
  const client = await SoakClient.connect(`ws://127.0.0.1:${port}`, API_KEY, DEVICE, STREAMS);
  const agent = startAgent(proxy.port, thermal.sysRoot);
  const pid = agent.child.pid as number;
  const agentLog = new LogReader('agent');
  const hubLog = new LogReader('hub');
  const hubPid = hub.child.pid as number;
  let stopping = false;
  let probe: HeapProbe | undefined;
  // Either process ending on its own ends the run: nothing after it would mean anything.
  let ended: string | null = null;
  for (const [name, child] of [
    ['agent', agent],
    ['hub', hub],
  ] as const) {
    void child.exited().then(({ code, signal }) => {
      if (stopping) return;
      ended = `the ${name} exited by itself (code ${code}, signal ${signal})`;
      failures.push(ended);
      console.error(child.output().slice(-4000));
    });
  }

  try {
    await agent.waitForLog(statusIs('online'), 20_000);
    if (!(await client.until(() => client.telemetryReceived >= STREAMS.length * 5, 20_000)))
      throw new Error('no telemetry reached the client within 20 s');
    const t0 = performance.now();
    const cpuAtStart = cpuSeconds(pid);
    const elapsed = (): number => performance.now() - t0;
    let gcTimer: NodeJS.Timeout | undefined;
    if (GC_EVERY_MS > 0) {
      const url = inspectorUrl(agent.output());
      if (url === null) throw new Error('the agent printed no inspector URL');
      probe = await HeapProbe.connect(url);
      const heapProbe = probe;
      let collecting = false;
      gcTimer = setInterval(() => {
        if (collecting) return; // one at a time: a stalled agent is the command deadline's job
        collecting = true;
        heapProbe
          .collect()
          .then((heap) => {
            afterGc.push({
              tMs: elapsed(),
              heapUsedBytes: heap.usedBytes,
              heapTotalBytes: heap.totalBytes,
              rssAnonBytes: memoryOf(pid).rssAnonBytes,
            });
          })
          .catch((error: Error) => {
            if (!stopping && !ended) failures.push(`forced collection: ${error.message}`);
          })
          .finally(() => (collecting = false));
      }, GC_EVERY_MS);
    }
    console.log(
      `soak: ${MINUTES} min, telemetry ${STREAMS.join('+')} every ${SAMPLE_INTERVAL_MS} ms, ` +
        `a command every ${COMMAND_EVERY_MS / 1000} s, a partition every ${PARTITION_EVERY_MS / 1000} s; ` +
        `warm-up ${WARMUP_MS / 1000} s; node ${process.version}; agent pid ${pid}; started ${new Date().toISOString()}`,
    );
    console.log(
      'time    link       RSS MiB  RssAnon MiB  heap MiB  heap total  fds  children  telemetry/s  commands sent/ok/offline/lost/wrong  hub RssAnon MiB',
    );

    let partition = 0;
    let nextCommand = 0;
    let lastRowTelemetry = client.telemetryReceived;
    let lastRowAt = 0;
    const procTimer = setInterval(() => {
      const tMs = elapsed();
      thermal.tick(tMs);
      let memory, fds, children;
      try {
        memory = memoryOf(pid);
        fds = openFdCount(pid);
        children = descendantsOf(pid);
      } catch {
        return; // the agent is gone: its exit handler reports it and the driver stops
      }
      const marked = processesWithEnv(MARK.name, MARK.value);
      samples.push({
        tMs,
        rssBytes: memory.rssBytes,
        rssAnonBytes: memory.rssAnonBytes,
        fds,
        children: children.length,
      });
      // Read in the same turn as the in-flight count: no command can be sent in between.
      if (client.counts.inFlight === 0 && children.length + marked.length > 0 && strays.length < 20)
        strays.push(
          `${(tMs / 1000).toFixed(0)} s: ${[...new Set([...children, ...marked])].map(describeProcess).join('; ')}`,
        );
    }, PROC_EVERY_MS);
    const rowTimer = setInterval(() => {
      const last = samples.at(-1);
      if (!last) return;
      agentLog.take(agent, last.tMs);
      hubLog.take(hub, last.tMs);
      const counts = client.counts;
      const now = elapsed();
      const row: Row = {
        ...last,
        link: proxy.mode === 'pass' ? agentLog.link : proxy.mode,
        heapUsedBytes: agentLog.heapUsedBytes,
        heapTotalBytes: agentLog.heapTotalBytes,
        telemetryPerS: ((client.telemetryReceived - lastRowTelemetry) * 1000) / (now - lastRowAt),
        commands: `${counts.sent}/${counts.ok}/${counts.offline}/${counts.lost}/${counts.wrong}`,
        hubRssAnonBytes: rssAnonOrZero(hubPid),
      };
      lastRowTelemetry = client.telemetryReceived;
      lastRowAt = now;
      rows.push(row);
      console.log(
        `${formatTime(row.tMs).padStart(6)}  ${row.link.padEnd(9)}  ${mib(row.rssBytes).padStart(7)}  ${mib(row.rssAnonBytes).padStart(11)}  ${mib(row.heapUsedBytes).padStart(8)}  ${mib(row.heapTotalBytes).padStart(10)}  ${String(row.fds).padStart(3)}  ${String(row.children).padStart(8)}  ${row.telemetryPerS.toFixed(1).padStart(11)}  ${row.commands.padStart(35)}  ${mib(row.hubRssAnonBytes).padStart(15)}`,
      );
    }, ROW_EVERY_MS);

    // One driver: partitions begin on a command tick, so a command and its cancel (300 ms on)
    // are sent either both on a working link or both while it is cut. The one sent on the cut's
    // first tick goes into a link the hub still thinks is up (a blackhole) or is just losing (a
    // reset): it must come back request_lost after the reconnect, never silence.
    for (let tick = 1; tick * COMMAND_EVERY_MS < RUN_MS; tick++) {
      await sleep(tick * COMMAND_EVERY_MS - elapsed());
      if ((tick * COMMAND_EVERY_MS) % PARTITION_EVERY_MS === 0) {
        partition++;
        const mode: ProxyMode = partition % 3 === 0 ? 'reset' : 'blackhole';
        const lengthMs = 10_000 + ((partition * 2) % 6) * 1_000;
        proxy.setMode(mode);
        setTimeout(() => proxy.setMode('pass'), lengthMs).unref();
      }
      client.send(
        COMMAND_MIX[nextCommand++ % COMMAND_MIX.length]!,
        { [MARK.name]: MARK.value },
        elapsed(),
      );
      const overdue = client.overdue(elapsed(), COMMAND_DEADLINE_MS);
      if (overdue.length > 0) {
        failures.push(
          `commands unanswered after ${COMMAND_DEADLINE_MS / 1000} s: ${overdue.join(', ')}`,
        );
        break;
      }
      if (ended) break;
    }

    clearInterval(rowTimer);
    clearInterval(gcTimer);
    agentCpuPercent = ((cpuSeconds(pid) - cpuAtStart) * 100_000) / elapsed();
    if (ended) {
      clearInterval(procTimer);
      return;
    }
    // Wind down: heal the link, let the last commands finish and the backlog arrive.
    proxy.setMode('pass');
    const endWallMs = Date.now();
    if (!(await client.until(() => client.counts.inFlight === 0, COMMAND_DEADLINE_MS)))
      failures.push(`commands never answered: ${client.overdue(elapsed(), 0).join(', ')}`);
    if (!(await client.until(() => client.newestSampleMs >= endWallMs + 1_000, 60_000)))
      failures.push('telemetry made after the run did not arrive within 60 s of healing the link');
    clearInterval(procTimer);
    const left = [...new Set([...descendantsOf(pid), ...processesWithEnv(MARK.name, MARK.value)])];
    if (left.length > 0)
      failures.push(
        `processes left after the last command: ${left.map(describeProcess).join('; ')}`,
      );

    stopping = true;
    // Before SIGTERM: with an inspector client attached, Node waits for it to leave before exiting.
    probe?.close();
    const stopStarted = performance.now();
    const exit = await agent.kill('SIGTERM');
    const stopMs = performance.now() - stopStarted;
    if (exit.code !== 0)
      failures.push(`agent exit on SIGTERM: code ${exit.code}, signal ${exit.signal}`);
    // --trace-gc times are the hub's own, from its start: moved onto the run's clock.
    const hubCollections = fullCollections(hub.output()).map((c) => ({
      ...c,
      atMs: c.atMs - (t0 - hubStartedMs),
    }));
    report(client, stopMs, [agentLog, hubLog], hubCollections);
  } finally {
    stopping = true;
    probe?.close();
    client.close();
    await agent.kill('SIGKILL');
    await hub.kill('SIGTERM');
    await proxy.close();
    rmSync(work, { recursive: true, force: true });
  }
}

function formatTime(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function report(
  client: SoakClient,
  stopMs: number,
  logs: readonly LogReader[],
  hubCollections: readonly FullCollection[],
): void {
  const after = (pick: (s: ProcSample) => number): TimedValue[] =>
    samples.map((s) => ({ tMs: s.tMs, value: pick(s) }));
  // With forced collections (the default) memory is judged on the figures right after each one
  // from the end of the warm-up: V8's own schedule no longer matters (see soak/heap-probe.ts).
  // Without them, from the end of the warm-up or V8's first full collection, the later.
  const forced = GC_EVERY_MS > 0;
  const fullGcMs = forced ? null : (logs[0]?.firstFullGcMs ?? null);
  const memoryFromMs = Math.max(WARMUP_MS, fullGcMs ?? 0);
  const rssAnon = growthOf(
    after((s) => s.rssAnonBytes / MiB),
    memoryFromMs,
    GROWTH_WINDOW_MS,
  );
  const rss = growthOf(
    after((s) => s.rssBytes / MiB),
    memoryFromMs,
    GROWTH_WINDOW_MS,
  );
  const heapJudged = afterGc.filter((s) => s.tMs >= WARMUP_MS);
  const rssJudgedFromMs = Math.max(WARMUP_MS, NATIVE_WARMUP_MS);
  const rssJudged = afterGc.filter((s) => s.tMs >= rssJudgedFromMs);
  const liveHeapAfterGc = slopePerHour(
    heapJudged.map((s) => ({ tMs: s.tMs, value: s.heapUsedBytes / MiB })),
  );
  const rssAnonAfterGc = slopePerHour(
    rssJudged.map((s) => ({ tMs: s.tMs, value: s.rssAnonBytes / MiB })),
  );
  const judged = forced ? rssAnonAfterGc : rssAnon;
  const liveHeapVerdict =
    heapJudged.length < 3
      ? `live heap not judged: only ${heapJudged.length} forced full collections after the warm-up`
      : `live heap judged from ${formatTime(WARMUP_MS)} on ${heapJudged.length} full collections forced every ${GC_EVERY_MS / 1000} s`;
  const memoryVerdict = forced
    ? rssJudged.length < 3
      ? `${liveHeapVerdict}; RssAnon not judged: it settles after ${formatTime(NATIVE_WARMUP_MS)} (run 30 minutes or more)`
      : `${liveHeapVerdict}; RssAnon judged from ${formatTime(rssJudgedFromMs)} on ${rssJudged.length}`
    : fullGcMs === null
      ? `not judged: V8 made no full collection in ${MINUTES} min (its heap was still filling); run 15 minutes or more`
      : rssAnon.windows < 3
        ? `not judged: only ${rssAnon.windows} windows after V8's first full collection at ${formatTime(fullGcMs)}`
        : `judged from ${formatTime(memoryFromMs)} (V8's first full collection at ${formatTime(fullGcMs)})`;
  const rssAnonIsJudged = forced ? rssJudged.length >= 3 : memoryVerdict.startsWith('judged');
  const fdSamples = after((s) => s.fds);
  const fds = growthOf(fdSamples, WARMUP_MS, GROWTH_WINDOW_MS);
  const heapPoints = rows
    .filter((r) => r.heapUsedBytes !== null)
    .map((r) => ({ tMs: r.tMs, value: (r.heapUsedBytes as number) / MiB }));
  // The heap figure comes every 10 s: a 60-second window still holds six of them.
  const heap = growthOf(heapPoints, memoryFromMs, 2 * GROWTH_WINDOW_MS);
  const heapTotal = growthOf(
    rows
      .filter((r) => r.heapTotalBytes !== null)
      .map((r) => ({ tMs: r.tMs, value: (r.heapTotalBytes as number) / MiB })),
    memoryFromMs,
    2 * GROWTH_WINDOW_MS,
  );
  const hub = growthOf(
    rows.map((r) => ({ tMs: r.tMs, value: r.hubRssAnonBytes / MiB })),
    WARMUP_MS,
    2 * GROWTH_WINDOW_MS,
  );
  // What the hub keeps: its heap after each full collection past the warm-up (not judged: a
  // slow run has few of them; see README "Soak").
  const hubKept = hubCollections.filter((c) => c.atMs >= WARMUP_MS);
  const hubHeap = slopePerHour(hubKept.map((c) => ({ tMs: c.atMs, value: c.afterMiB })));
  const fdFloors = windowMinima(fdSamples, WARMUP_MS, GROWTH_WINDOW_MS);
  const fdRise = (fdFloors.at(-1)?.value ?? 0) - (fdFloors[0]?.value ?? 0);
  const seq = client.ledger.summary();
  const counts = client.counts;
  const telemetryExpected = (STREAMS.length * (1000 / SAMPLE_INTERVAL_MS) * RUN_MS) / 1000;

  const afterGcNote = forced ? ' right after full collections' : '';
  if (rssAnonIsJudged && judged.lowerPerHour > RSS_ANON_LIMIT_MIB_PER_HOUR)
    failures.push(
      `RssAnon${afterGcNote} grows ${judged.perHour.toFixed(1)} MiB/h after warm-up; even the lower 99 % bound, ${judged.lowerPerHour.toFixed(1)} MiB/h, is above ${RSS_ANON_LIMIT_MIB_PER_HOUR} MiB/h`,
    );
  if (
    forced &&
    heapJudged.length >= 3 &&
    liveHeapAfterGc.lowerPerHour > LIVE_HEAP_LIMIT_MIB_PER_HOUR
  )
    failures.push(
      `the live heap grows ${liveHeapAfterGc.perHour.toFixed(1)} MiB/h after warm-up; even the lower 99 % bound, ${liveHeapAfterGc.lowerPerHour.toFixed(1)} MiB/h, is above ${LIVE_HEAP_LIMIT_MIB_PER_HOUR} MiB/h`,
    );
  if (fdRise > FD_TOLERANCE)
    failures.push(
      `open fds: the floor rose by ${fdRise} after warm-up (tolerance ${FD_TOLERANCE})`,
    );
  if (strays.length > 0)
    failures.push(`command processes alive with no command in flight: ${strays.join(' | ')}`);
  if (counts.wrong > 0)
    failures.push(`wrong command outcomes: ${client.wrongOutcomes.join(' | ')}`);
  const answered = counts.ok + counts.offline + counts.lost + counts.wrong;
  if (counts.sent !== answered) failures.push(`commands sent ${counts.sent}, finished ${answered}`);
  if (seq.missing > 0 || seq.repeated > 0)
    failures.push(`seqs: ${seq.missing} missing (${seq.gaps}), ${seq.repeated} repeated`);

  const last = samples.at(-1);
  const plateau = plateauOf(samples);
  console.log(
    `\nafter a warm-up of ${WARMUP_MS / 1000} s (minima of ${GROWTH_WINDOW_MS / 1000}-second windows):`,
  );
  console.log(`  memory           ${memoryVerdict}`);
  if (forced) {
    console.log(
      `  after forced GC  RssAnon ${perHour(rssAnonAfterGc, 'MiB')} (limit ${RSS_ANON_LIMIT_MIB_PER_HOUR} on the lower bound); now ${mib(afterGc.at(-1)?.rssAnonBytes ?? null)} MiB`,
    );
    console.log(
      `  after forced GC  live heap ${perHour(liveHeapAfterGc, 'MiB', 2)} (limit ${LIVE_HEAP_LIMIT_MIB_PER_HOUR} on the lower bound); now ${mib(afterGc.at(-1)?.heapUsedBytes ?? null)} MiB`,
    );
  }
  console.log(
    `  agent RssAnon    ${perHour(rssAnon, 'MiB')}${forced ? ' (minima of windows, not judged)' : ''}; limit ${RSS_ANON_LIMIT_MIB_PER_HOUR} MiB/h on the lower bound; now ${mib(last?.rssAnonBytes ?? null)} MiB`,
  );
  console.log(`  agent RSS        ${perHour(rss, 'MiB')}; now ${mib(last?.rssBytes ?? null)} MiB`);
  console.log(
    `  agent plateau    RssAnon ${mib(plateau.floor)} MiB at least, ${mib(plateau.peak)} MiB at most in the last ${PLATEAU_MS / 60_000} minutes`,
  );
  console.log(
    `  agent CPU        ${agentCpuPercent.toFixed(2)} % of a core over the run (NODE_OPTIONS ${values['node-options'] || 'unset'})`,
  );
  console.log(
    `  agent V8 heap    ${perHour(heap, 'MiB')} used (60-second windows of the vitals line)`,
  );
  console.log(
    `  agent V8 heap    ${perHour(heapTotal, 'MiB')} committed (RssAnon beyond it is native)`,
  );
  console.log(
    `  agent open fds   ${perHour(fds, 'fds', 0)}; floor ${fdFloors[0]?.value ?? '—'} → ${fdFloors.at(-1)?.value ?? '—'} (tolerance ${FD_TOLERANCE})`,
  );
  console.log(`  hub RssAnon      ${perHour(hub, 'MiB')} (60-second windows)`);
  console.log(
    `  hub V8 heap      ${hubKept.length < 2 ? `— (${hubKept.length} full collections after the warm-up)` : `${perHour(hubHeap, 'MiB', 2).replace(/windows$/, 'full collections')}: ${hubKept[0]?.afterMiB} → ${hubKept.at(-1)?.afterMiB} MiB kept, ${hubKept[0]?.committedMiB} → ${hubKept.at(-1)?.committedMiB} MiB committed`}`,
  );
  console.log(
    `  child processes  ${strays.length} samples with a command process alive and no command in flight`,
  );
  console.log(
    `  commands         ${counts.sent} sent: ${counts.ok} as expected, ${counts.offline} refused device_offline (agent reconnecting), ${counts.lost} request_lost (sent into a cut link), ${counts.wrong} wrong, ${counts.inFlight} unanswered`,
  );
  console.log(
    `  telemetry        ${client.telemetryReceived} samples received (${((client.telemetryReceived / telemetryExpected) * 100).toFixed(1)} % of ${Math.round(telemetryExpected)} due in the run); ` +
      `seqs up to ${seq.last}: ${seq.missing} missing, ${seq.repeated} repeated`,
  );
  console.log(`  shutdown         SIGTERM → exit in ${stopMs.toFixed(0)} ms`);
  console.log(`  warnings, debug  ${logs.map((l) => `${l.name} ${l.warningCount}`).join(', ')}`);
  // The lines themselves only when they may explain a failure: a healthy run has many.
  if (failures.length > 0)
    for (const line of logs.flatMap((l) => l.warnings)) console.log(`    ${line}`);

  reportRows([
    row(
      `soak: agent RssAnon growth after warm-up${rssAnonIsJudged ? afterGcNote : ''}`,
      'MiB/h',
      rssAnonIsJudged ? judged.perHour : rssAnon.perHour,
      rssAnonIsJudged
        ? `lower 99 % bound ${judged.lowerPerHour.toFixed(1)} MiB/h, limit ${RSS_ANON_LIMIT_MIB_PER_HOUR}; ${memoryVerdict}`
        : memoryVerdict,
    ),
    ...(forced
      ? [
          row(
            'soak: agent live heap growth after forced full collections',
            'MiB/h',
            liveHeapAfterGc.perHour,
            `lower 99 % bound ${liveHeapAfterGc.lowerPerHour.toFixed(1)} MiB/h, limit ${LIVE_HEAP_LIMIT_MIB_PER_HOUR}`,
          ),
        ]
      : []),
    row(
      'soak: agent open fd growth after warm-up',
      'fds/h',
      fds.perHour,
      `floor rose by ${fdRise}`,
    ),
    row(
      'soak: command processes left behind',
      'samples',
      strays.length,
      'with no command in flight',
    ),
    row(
      'soak: telemetry seqs lost or repeated',
      'messages',
      seq.missing + seq.repeated,
      `${seq.received} frames, ${counts.sent} commands`,
    ),
  ]);
  if (values.json) {
    writeFileSync(
      values.json,
      `${JSON.stringify(
        {
          minutes: MINUTES,
          warmupS: WARMUP_MS / 1000,
          nodeOptions: values['node-options'] ?? null,
          agentCpuPercent,
          plateauRssAnonBytes: plateau,
          firstFullGcS: fullGcMs === null ? null : fullGcMs / 1000,
          memoryVerdict,
          telemetryIntervalMs: SAMPLE_INTERVAL_MS,
          gcEveryS: GC_EVERY_MS / 1000,
          afterGc,
          growth: {
            rssAnonAfterGc,
            liveHeapAfterGc,
            rssAnon,
            rss,
            heap,
            heapTotal,
            fds,
            hubRssAnon: hub,
            hubHeapAfterGc: hubHeap,
          },
          hubFullCollections: hubCollections,
          fdFloorRise: fdRise,
          strays,
          commands: counts,
          wrongOutcomes: client.wrongOutcomes,
          telemetry: { received: client.telemetryReceived, expected: telemetryExpected, seq },
          shutdownMs: stopMs,
          rows,
          failures,
        },
        null,
        2,
      )}\n`,
    );
  }
}

/** The span over which the end-of-run RssAnon figures are read: a few collections' worth. */
const PLATEAU_MS = 2 * 60_000;

/** Lowest and highest RssAnon of the last PLATEAU_MS of the run (where a long run flattens). */
function plateauOf(all: readonly ProcSample[]): { floor: number | null; peak: number | null } {
  const end = all.at(-1)?.tMs ?? 0;
  const tail = all.filter((s) => s.tMs >= end - PLATEAU_MS).map((s) => s.rssAnonBytes);
  return tail.length === 0
    ? { floor: null, peak: null }
    : { floor: Math.min(...tail), peak: Math.max(...tail) };
}

function row(figure: string, unit: string, ours: number, note: string): BenchRow {
  return {
    figure,
    unit,
    better: 'lower',
    ours: Number(ours.toFixed(2)),
    floor: null,
    floorName: 'none',
    note: `${MINUTES}-minute soak; ${note}`,
  };
}

await main();
if (failures.length > 0) {
  console.error(`\nSOAK FAILED:\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log('\nsoak passed');
