/**
 * npm run bench:local-socket — app data lines through the local SDK socket into the agent's
 * emit, against a floor measured in the same run: a bare Unix socket server that only splits
 * lines and JSON.parses them. Also the memory a never-reading app costs while it is flooded
 * with commands (the per-app queue is bounded, so it must stay flat).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AgentContext } from '../src/agent/agent.js';
import { MemoryOutbox } from '../src/agent/outbox.js';
import { routerAndSessions } from '../test/helpers/router-sessions.js';
import { Defaults } from '../src/config/schema.js';
import { LocalApps } from '../src/local/local-apps.js';
import { systemClock } from '../src/time/clock.js';
import { reportRows } from './lib/results.js';

const LINES = 200_000;
const dir = mkdtempSync(join(tmpdir(), 'iottly-bench-'));
const logger = pino({ level: 'silent' });

function dataLine(i: number): string {
  return `${JSON.stringify({ data: { sdkclient: { name: 'bench' }, payload: { t: 21.5, i }, channel: 'sensors' } })}\n`;
}

/** Writes LINES data lines as fast as the socket takes them. */
async function pump(socket: Socket): Promise<void> {
  const batch = 500;
  for (let i = 0; i < LINES; i += batch) {
    let text = '';
    for (let k = i; k < i + batch; k++) text += dataLine(k);
    if (!socket.write(text)) await new Promise((resolve) => socket.once('drain', resolve));
  }
}

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function floor(): Promise<number> {
  const path = join(dir, 'floor.sock');
  let count = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const server = createServer((socket) => {
    let partial = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      partial += text;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        JSON.parse(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
        if (++count === LINES) done();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const rate = await linesPerSecond(path, finished);
  await new Promise((resolve) => server.close(resolve));
  return rate;
}

/** Pumps LINES lines into the socket at `path`; the rate once `finished` says all arrived. */
async function linesPerSecond(path: string, finished: Promise<void>): Promise<number> {
  const socket = await connect(path);
  const started = performance.now();
  await pump(socket);
  await finished;
  const seconds = (performance.now() - started) / 1000;
  socket.destroy();
  return LINES / seconds;
}

function fakeContext(onEmit: () => void): AgentContext {
  return {
    deviceId: 'bench',
    clock: systemClock,
    logger,
    outbox: new MemoryOutbox({ maxMessages: 10, highWaterBytes: 1 }),
    ...routerAndSessions(logger),
    emit: onEmit,
    speaksBytes: () => false,
    emitBytes: () => {},
    status: () => ({ kind: 'online', since: new Date().toISOString(), url: 'ws://x' }),
    onStatus: () => () => {},
  };
}

function localApps(path: string, maxQueuedLines = 1_000): LocalApps {
  return new LocalApps({
    server: {
      path,
      mode: 0o660,
      gid: null,
      sdkVersion: '1.8.0',
      maxApps: 64,
      maxLineBytes: 1 << 20,
      maxQueuedLines,
      maxQueuedBytes: Defaults.localAppQueueBytes,
      maxTotalQueuedBytes: Defaults.localTotalAppQueueBytes,
      closeTimeoutMs: 100,
    },
    actions: {},
    actionRunner: {
      run: () => Promise.reject(new Error('the benchmark calls no action')),
    },
  });
}

async function agentPath(): Promise<number> {
  const path = join(dir, 'agent.sock');
  let count = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const feature = localApps(path);
  await feature.start(fakeContext(() => ++count === LINES && done()));
  const rate = await linesPerSecond(path, finished);
  await feature.stop();
  return rate;
}

/** Heap growth while 200k 1 KiB commands go to an app that never reads. */
async function stuckAppMemory(): Promise<{ before: number; after: number; dropped: number }> {
  const path = join(dir, 'stuck.sock');
  const context = fakeContext(() => {});
  const feature = localApps(path);
  await feature.start(context);
  const socket = await connect(path);
  socket.pause();
  socket.write(
    `${JSON.stringify({ signal: { sdkclient: { name: 'stuck', status: 'connected' } } })}\n`,
  );
  while ((feature.server?.apps().length ?? 0) === 0) await new Promise((r) => setImmediate(r));
  const command = { app: 'stuck', command: { blob: { x: 'x'.repeat(1024) } } };
  const frame = JSON.stringify({ type: 'app_command', payload: command });
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 200_000; i++) {
    context.router.dispatch(frame);
    if (i % 10_000 === 0) await new Promise((r) => setImmediate(r));
  }
  global.gc?.();
  const after = process.memoryUsage().heapUsed;
  const dropped = feature.server?.apps()[0]?.dropped ?? 0;
  socket.destroy();
  await feature.stop();
  return { before, after, dropped };
}

const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

try {
  await floor(); // warm-up
  const floorRate = await floor();
  const agentRate = await agentPath();
  console.log(`floor (split + JSON.parse on a bare Unix socket): ${Math.round(floorRate)} lines/s`);
  console.log(`agent (SDK socket → validated → emit):            ${Math.round(agentRate)} lines/s`);
  console.log(`ratio agent/floor: ${(agentRate / floorRate).toFixed(2)}`);
  const memory = await stuckAppMemory();
  console.log(
    `stuck app flooded with 200k commands: heap ${mb(memory.before)} → ${mb(memory.after)} MiB, ${memory.dropped} lines dropped (queue bound 1000)`,
  );
  reportRows([
    {
      figure: 'local SDK socket, app data lines into emit',
      unit: 'lines/s',
      better: 'higher',
      ours: agentRate,
      floor: floorRate,
      floorName: 'split + JSON.parse on a bare Unix socket',
    },
    {
      figure: 'heap growth while a non-reading app gets 200k commands',
      unit: 'MiB',
      better: 'lower',
      ours: (memory.after - memory.before) / 2 ** 20,
      floor: null,
      floorName: 'bounded queue (1000 lines)',
      note: `${memory.dropped} lines dropped`,
    },
  ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
