/**
 * bench:spool — what acknowledged delivery costs, against floors measured in the same run.
 *
 * 1. Write cost per message: a 24-hour backlog of 1 Hz cpu + memory + temperature (259,200
 *    telemetry frames) through the real SpoolOutbox while offline, against the floor of the
 *    least that does the same job: each message numbered and checksummed, so that a replay
 *    after a crash tells a torn or corrupt record from a good one and resends it by seq, as
 *    the spool's records do. That is a JSON line per message, `<crc32> <seq> <json>`, and one
 *    plain append per 256 KiB batch. An unframed log with no seqs and no checksums is printed
 *    beside it (and is the floor of the disk bytes row): it is cheaper because it cannot be
 *    replayed safely, which is why it is not the write cost floor (issue 21).
 * 2. Disk bytes per telemetry frame, and whether that backlog fits in 50 MiB.
 * 3. Drain rate of a 100k-frame backlog after reconnect: the real agent (createAgent, spool on
 *    disk) to `iottly-agent hub` (a process), counted at a stream client, against the floor of
 *    a bare WebSocket client sending the same 100k frames as fast as the socket takes them.
 *
 * Usage: npm run bench:spool [-- --backlog 100000]
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import WebSocket from 'ws';
import { createAgent, realAgentDependencies } from '../src/roots/agent-root.js';
import { basicInventory } from '../src/agent/inventory.js';
import { loadConfig } from '../src/config/load.js';
import type { AgentMessage } from '../src/protocol/message.js';
import { nodeSpoolFs } from '../src/storage/spool-fs.js';
import { Spool } from '../src/storage/spool.js';
import { SpoolOutbox } from '../src/storage/spool-outbox.js';
import { systemClock } from '../src/time/clock.js';
import { startHubProcess } from './lib/hub-process.js';
import { reportRows } from './lib/results.js';

const { values } = parseArgs({ options: { backlog: { type: 'string', default: '100000' } } });
const BACKLOG = Number(values.backlog);
const DEVICE = 'pi-gateway-0042';
const TOKEN = 'bench-token';
const API_KEY = 'bench-key';
const DAY_S = 86_400;
const silent = pino({ level: 'silent' });

function telemetry(stream: string, tsMs: number, value: number): AgentMessage {
  const ts = new Date(tsMs).toISOString();
  return {
    type: 'telemetry',
    channel: 'telemetry',
    ts,
    payload: { device_id: DEVICE, stream, ts, value },
  };
}

/** A day of 1 Hz cpu, memory, temperature, as the telemetry feature emits them. */
function* day(): Generator<AgentMessage> {
  const start = Date.UTC(2026, 4, 6);
  for (let s = 0; s < DAY_S; s++) {
    const t = start + s * 1000;
    yield telemetry('cpu', t, Math.round(Math.random() * 10000) / 100);
    yield telemetry('memory', t, 40 + Math.round(Math.random() * 1000) / 100);
    yield telemetry('temperature', t, 45 + Math.round(Math.random() * 2000) / 100);
  }
}

function freshDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `bench-spool-${name}-`));
}

// ── 1 and 2: write cost and disk bytes ─────────────────────────────────────────────────────

function writeThroughSpool(): {
  usPerMessage: number;
  bytes: number;
  frames: number;
  dropped: number;
} {
  const dir = freshDir('day');
  const spool = new Spool({
    dir,
    deviceId: 'bench-device',
    maxBytes: 64 * 1024 * 1024,
    maxAgeMs: 7 * DAY_S * 1000,
    flushIntervalMs: 50,
    fsync: 'interval',
    fsyncIntervalMs: 5_000,
    retryIntervalMs: 10_000,
    memoryMaxMessages: 10_000,
    memoryMaxBytes: 16 * 1024 * 1024,
    writeBeforeSend: true, // the write path is what this row measures
    spillAfterMs: 1_000,
    spillAtBytes: 4 * 1024 * 1024,
    fs: nodeSpoolFs,
    // The device times are a day old on purpose; keep them inside maxAge.
    clock: { ...systemClock, date: () => new Date(Date.UTC(2026, 4, 7)) },
    logger: silent,
    newStoreId: () => 'bench-store-1',
  });
  const outbox = new SpoolOutbox({
    spool,
    windowMessages: 5_000,
    highWaterBytes: 1 << 20,
    logger: silent,
  });
  outbox.start();
  let frames = 0;
  const started = process.hrtime.bigint();
  for (const message of day()) {
    outbox.enqueue(message);
    frames++;
  }
  spool.flush();
  const elapsedNs = Number(process.hrtime.bigint() - started);
  const stats = spool.stats();
  outbox.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    usPerMessage: elapsedNs / 1000 / frames,
    bytes: stats.bytes,
    frames,
    dropped: stats.dropped,
  };
}

type StringCrc32 = (data: string, value?: number) => number;
/** zlib's crc32 takes strings (Node 20.15 and later), so the floor needs no buffer per line. */
const stringCrc32 = (zlib as { crc32?: StringCrc32 }).crc32;

/**
 * Each message as a JSON line; `checked`: prefixed with its seq and a CRC-32 of the rest, the
 * least a replay needs to resend by seq and to stop at a torn line.
 */
function writeFloor(checked: boolean): { usPerMessage: number; bytes: number } {
  if (checked && !stringCrc32) throw new Error('bench:spool needs zlib.crc32 (Node 20.15+)');
  const dir = freshDir('floor');
  const fd = openSync(join(dir, 'plain.log'), 'a');
  const batch: string[] = [];
  let batchBytes = 0;
  let bytes = 0;
  let frames = 0;
  const started = process.hrtime.bigint();
  for (const message of day()) {
    let text = JSON.stringify(message);
    frames++;
    if (checked && stringCrc32) {
      const seq = `${frames} `;
      text = `${stringCrc32(text, stringCrc32(seq))} ${seq}${text}`;
    }
    batch.push(text);
    batchBytes += text.length + 1;
    if (batchBytes >= 256 * 1024) {
      bytes += writeSync(fd, `${batch.join('\n')}\n`);
      batch.length = 0;
      batchBytes = 0;
    }
  }
  if (batch.length > 0) bytes += writeSync(fd, `${batch.join('\n')}\n`);
  const elapsedNs = Number(process.hrtime.bigint() - started);
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  return { usPerMessage: elapsedNs / 1000 / frames, bytes };
}

// ── 3: drain rate ──────────────────────────────────────────────────────────────────────────

/** A stream client that resolves when it has seen `count` cpu frames. */
async function countAtClient(port: number, count: number): Promise<{ done: Promise<number> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream?api_key=${API_KEY}`);
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'subscribe', payload: { device_id: DEVICE, streams: ['cpu'] } }));
  await new Promise<void>((resolve) =>
    ws.on('message', (data) => {
      if (String(data).includes('"subscribed"')) resolve();
    }),
  );
  // Wrapped: an async function returning a bare promise would make the caller await it too.
  // The client shares its event loop with the sender, so it falls behind the burst: the hub then
  // drops telemetry for it (its send queue is bounded) and says how many in `frames_dropped`.
  // Those frames were processed by the hub all the same, so they count as drained.
  const done = new Promise<number>((resolve) => {
    let seen = 0;
    ws.on('message', (data) => {
      const text = String(data);
      if (text.startsWith('{"type":"telemetry"')) seen++;
      else if (text.includes('"frames_dropped"')) {
        const { payload } = JSON.parse(text) as { payload: { dropped?: number } };
        seen += payload.dropped ?? 0;
      } else return;
      if (seen >= count) {
        resolve(performance.now());
        ws.terminate();
      }
    });
  });
  return { done };
}

async function drainAgent(backlog: number): Promise<number> {
  const dir = freshDir('drain');
  const hub = await startHubProcess(new Map([[DEVICE, TOKEN]]), API_KEY);
  const agentOn = async (port: number) =>
    createAgent(
      loadConfig({
        configPath: undefined,
        env: {},
        flags: {
          'server.url': `ws://127.0.0.1:${port}/v1/device`,
          'device.id': DEVICE,
          'auth.token': TOKEN,
          'storage.dir': dir,
          'log.level': 'silent',
        },
        readFile: () => {
          throw Object.assign(new Error('none'), { code: 'ENOENT' });
        },
      }).config,
      { token: TOKEN, tls: {} },
      await realAgentDependencies(
        { logger: silent, inventory: basicInventory() },
        `ws://127.0.0.1:${port}/v1/device`,
      ),
    );
  // The backlog is made offline and left on disk, as a device
  // that was cut off leaves it; the agent that drains it starts from that spool.
  const offline = await agentOn(1); // nothing listens on port 1: refused at once
  await offline.start();
  const start = Date.now() - backlog * 10;
  for (let i = 0; i < backlog; i++) {
    offline.context.emit('telemetry', 'telemetry', {
      device_id: DEVICE,
      stream: 'cpu',
      ts: new Date(start + i * 10).toISOString(),
      value: i,
    });
  }
  await offline.stop();
  const agent = await agentOn(hub.port);
  const { done } = await countAtClient(hub.port, backlog);
  const started = performance.now();
  await agent.start();
  const finished = await done;
  await agent.stop();
  hub.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  return backlog / ((finished - started) / 1000);
}

async function drainFloor(backlog: number): Promise<number> {
  const hub = await startHubProcess(new Map([[DEVICE, TOKEN]]), API_KEY);
  const frames: string[] = [];
  const start = Date.now() - backlog * 10;
  for (let i = 0; i < backlog; i++) {
    const ts = new Date(start + i * 10).toISOString();
    frames.push(
      JSON.stringify({
        seq: i + 1,
        type: 'telemetry',
        channel: 'telemetry',
        ts,
        payload: { device_id: DEVICE, stream: 'cpu', ts, value: i },
      }),
    );
  }
  const { done } = await countAtClient(hub.port, backlog);
  const started = performance.now();
  const ws = new WebSocket(`ws://127.0.0.1:${hub.port}/v1/device`, {
    headers: { Authorization: `Bearer ${TOKEN}`, 'X-Iottly-Device-Id': DEVICE },
    perMessageDeflate: false,
  });
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(
    JSON.stringify({
      type: 'hello',
      payload: {
        device_id: DEVICE,
        agent_version: 'bench',
        protocol: 1,
        capabilities: [],
        store_id: 'bench-floor-1',
      },
    }),
  );
  await new Promise<void>((resolve) => ws.once('message', () => resolve()));
  for (const frame of frames) ws.send(frame);
  const finished = await done;
  ws.terminate();
  hub.child.kill('SIGKILL');
  return backlog / ((finished - started) / 1000);
}

// ── run ────────────────────────────────────────────────────────────────────────────────────

const MiB = 1024 * 1024;
const plain = writeFloor(false);
const floor = writeFloor(true);
const spooled = writeThroughSpool();
console.log('bench:spool');
console.log(`  24 h of 1 Hz cpu+memory+temperature: ${spooled.frames} telemetry frames`);
console.log(
  `  write cost: ${spooled.usPerMessage.toFixed(2)} µs/message (floor: numbered, checksummed JSON lines ${floor.usPerMessage.toFixed(2)} µs; ratio ${(spooled.usPerMessage / floor.usPerMessage).toFixed(2)}×; an unframed, unchecked log: ${plain.usPerMessage.toFixed(2)} µs, ${(spooled.usPerMessage / plain.usPerMessage).toFixed(2)}×)`,
);
console.log(
  `  disk: ${(spooled.bytes / spooled.frames).toFixed(1)} bytes/frame (floor: unframed JSON line ${(plain.bytes / spooled.frames).toFixed(1)}; ratio ${(spooled.bytes / plain.bytes).toFixed(2)}×)`,
);
console.log(
  `  24 h backlog on disk: ${(spooled.bytes / MiB).toFixed(1)} MiB (${spooled.bytes < 50 * MiB ? 'under' : 'OVER'} 50 MiB), ${spooled.dropped} dropped`,
);
const agentRate = await drainAgent(BACKLOG);
const floorRate = await drainFloor(BACKLOG);
console.log(
  `  drain of a ${BACKLOG}-frame backlog after reconnect: ${Math.round(agentRate)} frames/s (floor: bare ws client ${Math.round(floorRate)} frames/s; ratio ${(agentRate / floorRate).toFixed(2)})`,
);
reportRows([
  {
    figure: 'spool write cost per telemetry frame (offline)',
    unit: 'µs',
    better: 'lower',
    ours: spooled.usPerMessage,
    floor: floor.usPerMessage,
    floorName: 'stringify + seq + CRC-32 per line, plain append',
    note: `unframed, unchecked log: ${plain.usPerMessage.toFixed(2)} µs`,
  },
  {
    figure: 'spool bytes per telemetry frame on disk',
    unit: 'bytes',
    better: 'lower',
    ours: spooled.bytes / spooled.frames,
    floor: plain.bytes / spooled.frames,
    floorName: 'unframed JSON line',
    note: `24 h of 1 Hz cpu+memory+temperature = ${(spooled.bytes / MiB).toFixed(1)} MiB`,
  },
  {
    figure: `spool drain rate, ${BACKLOG}-frame backlog after reconnect`,
    unit: 'frames/s',
    better: 'higher',
    ours: agentRate,
    floor: floorRate,
    floorName: 'bare ws client sending the same frames',
  },
]);
if (spooled.bytes >= 50 * MiB || spooled.dropped > 0) process.exitCode = 1;
