/**
 * The hub's memory under the issue 13 abuse, measured from /proc on a hub process of its own
 * with a real agent (shared by `npm run bench:hub-memory` and test/faults/hub-memory.test.ts):
 *
 *   flood          a stream client runs `cat` of a `floodBytes` text file on the device and
 *                  stops reading; it resumes once the hub logs that it stopped reading the
 *                  device (push-back), and then `extraHoldMs` more,
 *                  reads everything and checks it is complete and in order (sha-256)
 *   subscriptions  a second client, which never reads, asks for `subscriptionAttempts`
 *                  subscriptions to cpu and memory every 100 ms; a third, reading, client waits
 *                  for `telemetrySamples` samples (each one fanned out to every subscription the
 *                  hub accepted), then the second reads its answers
 *
 * The hub's VmRSS and RssAnon are sampled every 20 ms throughout. A phase in which RSS passes
 * `rssLimitBytes` stops after its hold, with the figures so far, without waiting for the hub
 * to deliver what it buffered (a hub without bounds would take minutes and gigabytes).
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RawData } from 'ws';
import { spawnAgent, statusIs } from '../../test/helpers/agent-process.js';
import {
  API_KEY,
  DEVICE_ID,
  DEVICE_TOKEN,
  connectClient,
  type Peer,
} from '../../test/helpers/ws.js';
import { STOPPED_BY_CALLER } from '../../test/helpers/owner.js';
import { startHubProcess } from './hub-process.js';
import { memoryOf } from './proc-stats.js';

export interface HubMemoryOptions {
  floodBytes: number;
  /** How long the flood client stays paused once push-back is seen (0: resume at once). */
  extraHoldMs: number;
  subscriptionAttempts: number;
  telemetrySamples: number;
  rssLimitBytes: number;
}

export interface HubMemoryFigures {
  baselineRssBytes: number;
  floodMaxRssBytes: number;
  floodMaxRssAnonBytes: number;
  /** The hub stopped reading the device while the client did not read. */
  pushedBack: boolean;
  floodReceivedBytes: number;
  floodIntact: boolean;
  floodSeconds: number;
  subscriptionsMaxRssBytes: number;
  subscriptionsMaxRssAnonBytes: number;
  subscribed: number;
  refused: number;
}

/** What the hub logs (at debug) when it stops reading a device for a client that is behind. */
const PAUSED_LOG = 'device reading paused';
const WAIT_LIMIT_MS = 120_000;

class RssSampler {
  maxRss = 0;
  maxAnon = 0;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(readonly pid: number) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), 20);
  }

  sample(): void {
    const { rssBytes, rssAnonBytes } = memoryOf(this.pid);
    this.maxRss = Math.max(this.maxRss, rssBytes);
    this.maxAnon = Math.max(this.maxAnon, rssAnonBytes);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT_LIMIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function writeTextFile(path: string, bytes: number): string {
  const line = '2026-05-06 14:22:44.123 INFO worker[42] processed batch id=0123456789 ok\n';
  const block = Buffer.from(line.repeat(Math.ceil((1 << 20) / line.length))).subarray(0, 1 << 20);
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  for (let written = 0; written < bytes; written += block.length) {
    const piece = block.subarray(0, Math.min(block.length, bytes - written));
    writeSync(fd, piece);
    hash.update(piece);
  }
  closeSync(fd);
  return hash.digest('hex');
}

function frameOf(data: RawData): {
  type: string;
  request_id?: string;
  payload: Record<string, unknown>;
} {
  return JSON.parse(data.toString()) as ReturnType<typeof frameOf>;
}

export async function measureHubMemory(options: HubMemoryOptions): Promise<HubMemoryFigures> {
  const work = mkdtempSync(join(tmpdir(), 'bench-hub-memory-'));
  const file = join(work, 'flood.log');
  const expectedSha = writeTextFile(file, options.floodBytes);
  const hub = await startHubProcess(new Map([[DEVICE_ID, DEVICE_TOKEN]]), API_KEY, 'debug');
  const agent = spawnAgent(STOPPED_BY_CALLER, ['run'], {
    IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_LOG_LEVEL: 'info',
    IOTTLY_COMMANDS_MAX_OUTPUT_BYTES: String(2 * options.floodBytes),
    IOTTLY_TELEMETRY_MIN_INTERVAL_MS: '100',
    IOTTLY_STORAGE_DIR: join(work, 'spool'), // the flood passes through it: removed with `work`
  });
  const peers: Peer[] = [];
  try {
    await agent.waitForLog(statusIs('online'), 30_000);
    const baselineRssBytes = memoryOf(hub.pid).rssBytes;

    // ── flood ──
    const flood = new RssSampler(hub.pid);
    const client = await connectClient(hub.wsUrl);
    peers.push(client);
    const hash = createHash('sha256');
    let received = 0;
    let done: Record<string, unknown> | null = null;
    client.ws.on('message', (data) => {
      const frame = frameOf(data);
      if (frame.request_id !== 'flood') return;
      if (frame.type === 'command_output') {
        const chunk = String(frame.payload.chunk);
        hash.update(chunk);
        received += Buffer.byteLength(chunk);
      } else done = frame.payload;
    });
    const started = performance.now();
    client.send({
      type: 'command',
      request_id: 'flood',
      payload: { device_id: DEVICE_ID, argv: ['cat', file], stream_output: true, timeout_s: 600 },
    });
    client.ws.pause();
    await until(
      () => hub.output().includes(PAUSED_LOG) || flood.maxRss > options.rssLimitBytes,
      'the hub neither pushed back on the device nor grew past the limit',
    );
    const pushedBack = flood.maxRss <= options.rssLimitBytes;
    if (options.extraHoldMs > 0)
      await new Promise((resolve) => setTimeout(resolve, options.extraHoldMs));
    client.ws.resume();
    if (pushedBack) await until(() => done !== null, 'the flood command did not finish');
    const floodSeconds = (performance.now() - started) / 1000;
    flood.sample();
    flood.stop();
    const floodIntact =
      received === options.floodBytes &&
      hash.digest('hex') === expectedSha &&
      (done as Record<string, unknown> | null)?.exit_code === 0;

    // ── subscriptions ──
    const subs = new RssSampler(hub.pid);
    const reader = await connectClient(hub.wsUrl);
    const greedy = await connectClient(hub.wsUrl);
    peers.push(reader, greedy);
    let samples = 0;
    reader.ws.on('message', (data) => {
      if (frameOf(data).type === 'telemetry') samples++;
    });
    reader.send({
      type: 'subscribe',
      request_id: 'reader',
      payload: { device_id: DEVICE_ID, streams: ['cpu'], interval_ms: 100 },
    });
    let subscribed = 0;
    let refused = 0;
    greedy.ws.on('message', (data) => {
      const frame = frameOf(data);
      if (frame.type === 'subscribed') subscribed++;
      else if (frame.type === 'error' && frame.request_id?.startsWith('s-')) refused++;
    });
    greedy.ws.pause();
    for (let i = 0; i < options.subscriptionAttempts; i++) {
      greedy.send({
        type: 'subscribe',
        request_id: `s-${i}`,
        payload: { device_id: DEVICE_ID, streams: ['cpu', 'memory'], interval_ms: 100 },
      });
    }
    const from = samples;
    await until(
      () => samples - from >= options.telemetrySamples || subs.maxRss > options.rssLimitBytes,
      'no telemetry reached the reading client',
    );
    greedy.ws.resume();
    if (subs.maxRss <= options.rssLimitBytes) {
      await until(
        () => subscribed + refused >= options.subscriptionAttempts,
        'not every subscribe was answered',
      );
    } else await new Promise((resolve) => setTimeout(resolve, options.extraHoldMs));
    subs.sample();
    subs.stop();
    return {
      baselineRssBytes,
      floodMaxRssBytes: flood.maxRss,
      floodMaxRssAnonBytes: flood.maxAnon,
      pushedBack,
      floodReceivedBytes: received,
      floodIntact,
      floodSeconds,
      subscriptionsMaxRssBytes: subs.maxRss,
      subscriptionsMaxRssAnonBytes: subs.maxAnon,
      subscribed,
      refused,
    };
  } finally {
    for (const peer of peers) peer.ws.terminate();
    await agent.kill();
    await hub.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
