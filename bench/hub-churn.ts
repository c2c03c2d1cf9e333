/**
 * `npm run bench:hub-churn -- [--minutes 6] [--sample-s 30] [--snapshots DIR] [--rest] [--natural]`:
 * what does the hub keep? The soak's load on the hub, many times faster, with the hub's heap
 * read after a forced collection:
 *
 *     `iottly-agent run` ──▶ FaultProxy ──▶ `iottly-agent hub` (--expose-gc --trace-gc --inspect)
 *      cpu+memory every 20 ms                 ├──▶ SoakClient: subscribed, a command every 300 ms
 *                                             ├──▶ a short-lived stream client every 250 ms:
 *                                             │    subscribes, sends a command, leaves 0–400 ms on
 *                                             └──▶ with --rest: a Command API command (wait=0),
 *                                                  a session token and GET /v1/devices every 500 ms
 *
 * The link is cut every 8 s for 2.5 s (blackhole, every third a reset). Every `--sample-s` the
 * hub collects its garbage (twice, through the inspector; not with --natural) and reports its
 * heap; the growth of `heapUsed` after collection is the slope of those figures after the first
 * minute (warm-up: the first links). With `--snapshots DIR`, heap snapshots at the first sample
 * after the warm-up and at the end are written there and counted by kind of object
 * (heap-census.ts): the rows that grew are printed. Each snapshot costs the hub about 70 MiB of
 * RssAnon for good (its RssAnon column means nothing after the first).
 *
 * Without --rest everything the hub holds is flat but V8's compiled code (README "Soak"). With
 * it, the Command API's result store fills up to its bound (1,000 results, 15 minutes).
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { CLI_PATH, spawnAgent, statusIs } from '../test/helpers/agent-process.js';
import { FaultProxy } from '../test/helpers/fault-proxy.js';
import { STOPPED_BY_CALLER } from '../test/helpers/owner.js';
import { census, censusDiff } from './lib/heap-census.js';
import { InspectorSession } from './lib/inspector-session.js';
import { memoryOf } from './lib/proc-stats.js';
import { COMMAND_MIX } from './soak/command-mix.js';
import { fullCollections, type FullCollection } from './soak/gc-trace.js';
import { growthOf, slopePerHour } from './soak/growth.js';
import { SoakClient } from './soak/soak-client.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '6' },
    'sample-s': { type: 'string', default: '30' },
    snapshots: { type: 'string' },
    rest: { type: 'boolean', default: false },
    natural: { type: 'boolean', default: false },
  },
});
const RUN_MS = Number(values.minutes) * 60_000;
const SAMPLE_MS = Number(values['sample-s']) * 1000;
const WARMUP_MS = 60_000;
const API_KEY = 'churn-key';
const DEVICE = 'churn-device';
const TOKEN = 'churn-token';
const STREAMS = ['cpu', 'memory'];
const MiB = 1024 * 1024;

const gcLog = { markCompacts: [] as FullCollection[] };

interface HeapSample {
  tMs: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  oldSpaceUsed: number;
  rssAnon: number;
}

/** With --natural the hub's heap is read as it is, without a forced collection. */
const MEMORY_AFTER_GC = `(() => {
  ${values.natural ? '' : 'gc(); gc();'}
  const m = process.memoryUsage();
  // process.getBuiltinModule: Node 20.16 on; before it the old-space column reads 0.
  const v8 = process.getBuiltinModule ? process.getBuiltinModule('v8') : null;
  const old = v8 && v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
  return { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external,
    arrayBuffers: m.arrayBuffers, oldSpaceUsed: old ? old.space_used_size : 0 };
})()`;

async function startHub(): Promise<{
  child: ReturnType<typeof spawn>;
  port: number;
  inspectorUrl: string;
}> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--trace-gc',
      '--inspect=127.0.0.1:0',
      CLI_PATH,
      'hub',
      '--port',
      '0',
      '--api-key',
      API_KEY,
      '--device-token',
      `${DEVICE}=${TOKEN}`,
      '--ping-interval-ms',
      '500',
      '--pong-timeout-ms',
      '500',
      '--log-level',
      'debug',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Its log lines are read, not kept; V8's --trace-gc lines (on stdout too) are counted.
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) gcLog.markCompacts.push(...fullCollections(line));
  });
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const inspectorUrl = /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1];
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      if (inspectorUrl && url) resolve({ child, port: Number(new URL(url).port), inspectorUrl });
    });
    child.once('exit', (code) => reject(new Error(`hub exited (${code}): ${stderr}`)));
  });
}

/** A stream client that subscribes, sends a command and leaves, often before the answer. */
async function shortLivedClient(port: number, n: number): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream?api_key=${API_KEY}`, {
    perMessageDeflate: false,
  });
  ws.on('error', () => {});
  await new Promise<void>((resolve) => {
    ws.once('open', () => resolve());
    ws.once('close', () => resolve());
  });
  if (ws.readyState !== WebSocket.OPEN) return;
  ws.send(
    JSON.stringify({
      type: 'subscribe',
      request_id: `s${n}`,
      payload: { device_id: DEVICE, streams: ['cpu'] },
    }),
  );
  const command = COMMAND_MIX[n % 4]!; // true, seq streamed, exit 3, seq buffered
  ws.send(
    JSON.stringify({
      type: 'command',
      request_id: `c${n}`,
      payload: { device_id: DEVICE, ...command.payload },
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, (n * 37) % 400));
  if (n % 2 === 0) ws.terminate();
  else ws.close();
}

async function rest(port: number, n: number): Promise<void> {
  const base = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
  try {
    await (
      await fetch(`${base}/v1/devices/${DEVICE}/commands?wait=0`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ command: n % 3 === 0 ? 'echo rest' : 'true' }),
      })
    ).arrayBuffer();
    await (await fetch(`${base}/v1/session`, { method: 'POST', headers })).arrayBuffer();
    await (await fetch(`${base}/v1/devices`, { headers })).arrayBuffer();
  } catch {
    // the hub's answers do not matter here, only what it keeps
  }
}

function mib(bytes: number): string {
  return (bytes / MiB).toFixed(2).padStart(7);
}

async function main(): Promise<void> {
  const hub = await startHub();
  const inspector = await InspectorSession.connect(hub.inspectorUrl);
  const proxy = await FaultProxy.start(STOPPED_BY_CALLER, hub.port);
  const agent = spawnAgent(STOPPED_BY_CALLER, ['run'], {
    IOTTLY_SERVER_URL: `ws://127.0.0.1:${proxy.port}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE,
    IOTTLY_AUTH_TOKEN: TOKEN,
    IOTTLY_HEARTBEAT_INTERVAL_MS: '1000',
    IOTTLY_HEARTBEAT_TIMEOUT_MS: '1000',
    IOTTLY_RECONNECT_INITIAL_DELAY_MS: '200',
    IOTTLY_RECONNECT_MAX_DELAY_MS: '1000',
    IOTTLY_RECONNECT_DIAL_TIMEOUT_MS: '1000',
    IOTTLY_TELEMETRY_STREAMS: STREAMS.join(','),
    IOTTLY_TELEMETRY_INTERVAL_MS: '20',
    IOTTLY_TELEMETRY_MIN_INTERVAL_MS: '20',
    IOTTLY_LOG_LEVEL: 'info',
  });
  const samples: HeapSample[] = [];
  const timers: ReturnType<typeof setInterval>[] = [];
  let client: SoakClient | null = null;
  try {
    await agent.waitForLog(statusIs('online'), 20_000);
    client = await SoakClient.connect(`ws://127.0.0.1:${hub.port}`, API_KEY, DEVICE, STREAMS);
    const t0 = performance.now();
    const elapsed = (): number => performance.now() - t0;
    let n = 0;
    let cuts = 0;
    const main = client;
    timers.push(
      setInterval(() => main.send(COMMAND_MIX[n % COMMAND_MIX.length]!, {}, elapsed()), 300),
      setInterval(() => void shortLivedClient(hub.port, ++n), 250),
      ...(values.rest ? [setInterval(() => void rest(hub.port, n), 500)] : []),
      setInterval(() => {
        cuts++;
        proxy.setMode(cuts % 3 === 0 ? 'reset' : 'blackhole');
        setTimeout(() => proxy.setMode('pass'), 2_500).unref();
      }, 8_000),
    );
    console.log(
      `hub churn: ${RUN_MS / 60_000} min; hub pid ${hub.child.pid}; heap ${values.natural ? 'as it is (no forced gc)' : 'after gc'} every ${SAMPLE_MS / 1000} s; REST ${values.rest ? 'on' : 'off'}`,
    );
    console.log(
      'time   heapUsed  heapTotal  old space  external  arrayBuf  RssAnon  commands  cuts  clients  mark-compacts',
    );
    let snapshotBefore: string | null = null;
    for (let t = SAMPLE_MS; t <= RUN_MS; t += SAMPLE_MS) {
      await new Promise((resolve) => setTimeout(resolve, t - elapsed()));
      const m = await inspector.evaluate<Omit<HeapSample, 'tMs' | 'rssAnon'>>(MEMORY_AFTER_GC);
      const sample = { tMs: t, ...m, rssAnon: memoryOf(hub.child.pid as number).rssAnonBytes };
      samples.push(sample);
      console.log(
        `${String(t / 1000).padStart(4)} s ${mib(sample.heapUsed)}  ${mib(sample.heapTotal)}   ${mib(sample.oldSpaceUsed)}  ${mib(sample.external)} ${mib(sample.arrayBuffers)} ${mib(sample.rssAnon)}  ${String(main.counts.sent).padStart(8)}  ${String(cuts).padStart(4)}  ${String(n).padStart(7)}  ${String(gcLog.markCompacts.length).padStart(13)}`,
      );
      if (values.snapshots && t >= WARMUP_MS && snapshotBefore === null) {
        mkdirSync(values.snapshots, { recursive: true });
        snapshotBefore = join(values.snapshots, `hub-${t / 1000}s.heapsnapshot`);
        await inspector.heapSnapshot(snapshotBefore);
      }
    }
    for (const timer of timers) clearInterval(timer);
    const heap = growthOf(
      samples.map((s) => ({ tMs: s.tMs, value: s.heapUsed / MiB })),
      WARMUP_MS,
      SAMPLE_MS,
    );
    const anon = growthOf(
      samples.map((s) => ({ tMs: s.tMs, value: s.rssAnon / MiB })),
      WARMUP_MS,
      SAMPLE_MS,
    );
    const first = samples.find((s) => s.tMs >= WARMUP_MS);
    const last = samples.at(-1);
    console.log(
      `\nhub heapUsed after gc: ${heap.perHour.toFixed(2)} MiB/h (99 % bounds ${heap.lowerPerHour.toFixed(2)} … ${heap.upperPerHour.toFixed(2)}), ` +
        `${mib(first?.heapUsed ?? 0).trim()} → ${mib(last?.heapUsed ?? 0).trim()} MiB from ${WARMUP_MS / 1000} s`,
    );
    console.log(
      `hub RssAnon:           ${anon.perHour.toFixed(2)} MiB/h (99 % bounds ${anon.lowerPerHour.toFixed(2)} … ${anon.upperPerHour.toFixed(2)})`,
    );
    // The hub's clock for --trace-gc starts with its isolate, a second or so before t0: close enough.
    const collections = gcLog.markCompacts.filter((c) => c.atMs >= WARMUP_MS);
    const afterGc = slopePerHour(collections.map((c) => ({ tMs: c.atMs, value: c.afterMiB })));
    console.log(
      `hub heap after each full collection (--trace-gc, forced ones included): ${collections.length} after ${WARMUP_MS / 1000} s, ` +
        `${collections[0]?.afterMiB ?? '—'} → ${collections.at(-1)?.afterMiB ?? '—'} MiB, ${afterGc.perHour.toFixed(2)} MiB/h (99 % bounds ${afterGc.lowerPerHour.toFixed(2)} … ${afterGc.upperPerHour.toFixed(2)})`,
    );
    console.log(
      `load: ${main.counts.sent} commands from the steady client, ${n} short-lived clients, ${cuts} cuts, ${main.telemetryReceived} telemetry samples`,
    );
    if (values.snapshots && snapshotBefore) {
      const after = join(values.snapshots, `hub-${RUN_MS / 1000}s-end.heapsnapshot`);
      await inspector.heapSnapshot(after);
      console.log(`\nheap snapshot census, ${snapshotBefore} → ${after} (largest changes):`);
      console.log('  bytes Δ    count Δ   count now   kind');
      for (const row of censusDiff(census(snapshotBefore), census(after)))
        console.log(
          `  ${String(row.bytes).padStart(9)}  ${String(row.count).padStart(8)}  ${String(row.countAfter).padStart(9)}   ${row.key}`,
        );
    }
  } finally {
    for (const timer of timers) clearInterval(timer);
    client?.close();
    inspector.close();
    await agent.kill('SIGTERM');
    hub.child.kill('SIGTERM');
    await proxy.close();
  }
}

await main();
