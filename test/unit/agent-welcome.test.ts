import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Agent, type Feature } from '../../src/agent/agent.js';
import type { ConnectionStatus } from '../../src/agent/connection-status.js';
import type { Link, LinkEvents } from '../../src/agent/link.js';
import type { OutboxSink } from '../../src/agent/outbox.js';
import { MAX_SEQ_BASE } from '../../src/protocol/seq-range.js';
import { nodeSpoolFs, type SpoolFs } from '../../src/storage/spool-fs.js';
import { openSpoolOutbox, type SpoolOutbox } from '../../src/storage/spool-outbox.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FaultyFs } from '../helpers/faulty-fs.js';
import { captureLogger, type CapturedLog } from '../helpers/log-capture.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * The Agent's side of the handshake, in-process: a fake link (what the WebSocket connection
 * would do, recorded) and the real spool outbox on a temp dir, with a fake clock.
 *
 *     hello ─▶ welcome { last_seq } ─┬─ within the store  ─▶ markWelcomed, resend after last_seq
 *                                    ├─ above the store   ─▶ new store, hello again
 *                                    └─ past MAX_SEQ_BASE ─▶ refuseWelcome (hub_seq_invalid)
 */
const DEVICE_ID = 'dev-1';
const FLUSH_MS = 10;
const RETRY_MS = 1_000;

interface Frame {
  type: string;
  seq?: number;
  channel?: string;
  payload: Record<string, unknown>;
}

/** Records what the socket would carry once the link is online. */
class RecordingSink implements OutboxSink {
  readonly frames: Frame[] = [];
  send(frame: string, written: () => void): void {
    this.frames.push(JSON.parse(frame) as Frame);
    written();
  }
  bufferedAmount(): number {
    return 0;
  }
  seqs(): number[] {
    return this.frames.map((f) => f.seq ?? -1);
  }
}

/**
 * The link as the Agent drives it. The test plays the hub: `connect()` opens it (the first
 * hello), `deliver()` hands a frame in; markWelcomed goes online as the real connection does.
 */
class FakeLink implements Link {
  readonly carriesBytes = false;
  status: ConnectionStatus = { kind: 'idle' };
  readonly hellos: Record<string, unknown>[] = [];
  readonly refusals: { code: string; message: string }[] = [];
  readonly sink = new RecordingSink();
  welcomed = 0;
  #events: LinkEvents | null = null;

  start(events: LinkEvents): void {
    this.#events = events;
  }
  markWelcomed(): void {
    this.welcomed++;
    this.status = { kind: 'online', since: '2026-01-01T00:00:00.000Z', url: 'ws://hub' };
    this.#on().onOnline(this.sink);
  }
  sendHello(): void {
    this.hellos.push(this.#on().hello());
  }
  refuseWelcome(code: string, message: string): void {
    this.refusals.push({ code, message });
    this.status = { kind: 'backoff', attempt: 1, delayMs: 1_000, reason: code };
  }
  stop(): Promise<void> {
    this.status = { kind: 'stopped' };
    return Promise.resolve();
  }

  /** The socket opened: the link says hello. */
  connect(): Record<string, unknown> {
    this.status = { kind: 'handshaking', url: 'ws://hub' };
    this.sendHello();
    return this.hellos.at(-1) as Record<string, unknown>;
  }
  /** A frame from the hub: an object as JSON text, or null for a binary frame. */
  deliver(frame: object | null): void {
    this.#on().onFrame(frame === null ? null : JSON.stringify(frame));
  }
  welcome(lastSeq: number, deviceId = DEVICE_ID): void {
    this.deliver({ type: 'welcome', payload: { device_id: deviceId, last_seq: lastSeq } });
  }

  #on(): LinkEvents {
    return this.#events ?? assert.fail('the agent has not started its link');
  }
}

/** A feature that announces itself and holds one request open. */
const commandsLike: Feature = {
  name: 'commands-like',
  capabilities: () => ['telemetry:cpu', 'commands'],
  openRequests: () => ['req-7'],
  start: () => {},
  stop: () => Promise.resolve(),
};

interface Rig {
  agent: Agent;
  link: FakeLink;
  outbox: SpoolOutbox;
  clock: FakeClock;
  lines: CapturedLog[];
  dir: string;
  /** Emits `count` telemetry messages and lets the spool write them. */
  emitTelemetry(count: number): void;
}

interface RigOptions {
  dir?: string;
  fs?: SpoolFs;
  features?: Feature[];
}

/**
 * Started Agents on spools in temp dirs. When the test ends its agents are stopped, then their
 * dirs removed (in that order, whatever failed).
 */
function agentRigs(t: TestContext): { dir(): string; start(options?: RigOptions): Promise<Rig> } {
  const agents: Agent[] = [];
  const removals: (() => void)[] = [];
  let stores = 0; // store ids unique across the test's agents, as random ones would be
  t.after(async () => {
    try {
      for (const agent of agents.reverse()) await agent.stop();
    } finally {
      for (const remove of removals) remove();
    }
  });
  const dir = (): string => tempDir('agent-welcome-', { after: (remove) => removals.push(remove) });
  const start = async (options: RigOptions = {}): Promise<Rig> => {
    const spoolDir = options.dir ?? dir();
    const fs = options.fs ?? nodeSpoolFs;
    const clock = new FakeClock();
    const { logger, lines } = captureLogger();
    const outbox = openSpoolOutbox(
      {
        dir: spoolDir,
        deviceId: DEVICE_ID,
        maxBytes: 1 << 20,
        maxAgeMs: 0,
        flushIntervalMs: FLUSH_MS,
        fsync: 'never',
        fsyncIntervalMs: 1_000,
        retryIntervalMs: RETRY_MS,
        memoryMaxMessages: 1_000,
        memoryMaxBytes: 1 << 20,
        writeBeforeSend: true,
        spillAfterMs: 1_000,
        spillAtBytes: 256 * 1024,
        fs,
        clock,
        logger,
        newStoreId: () => `store-${++stores}-${spoolDir.slice(-6)}`,
      },
      { windowMessages: 100, highWaterBytes: 1 << 20, logger },
    );
    const link = new FakeLink();
    const agent = new Agent(
      {
        deviceId: DEVICE_ID,
        version: '0.0.0-test',
        inventory: { hostname: 'h', os: 'linux', kernel: '6', arch: 'x64' },
        outbox,
        link,
        clock,
        logger,
      },
      options.features ?? [],
    );
    agents.push(agent);
    await agent.start();
    const emitTelemetry = (count: number): void => {
      for (let n = 0; n < count; n++) agent.emit('telemetry', 'telemetry', { stream: 'cpu', n });
      clock.advance(FLUSH_MS);
    };
    return { agent, link, outbox, clock, lines, dir: spoolDir, emitTelemetry };
  };
  return { dir, start };
}

/** One started Agent, stopped and removed when the test ends. */
const startAgent = (t: TestContext, options?: RigOptions): Promise<Rig> =>
  agentRigs(t).start(options);

const codes = (lines: CapturedLog[]): (string | undefined)[] => lines.map((l) => l.code);

describe('Agent welcome', () => {
  it('says hello with its store, its last seq, the features’ capabilities and open requests', async (t) => {
    const { link, outbox, emitTelemetry } = await startAgent(t, { features: [commandsLike] });
    emitTelemetry(3);
    const hello = link.connect();
    assert.equal(hello.device_id, DEVICE_ID);
    assert.equal(hello.store_id, outbox.storeId);
    assert.equal(hello.seq, 3);
    assert.deepEqual(hello.capabilities, ['telemetry:cpu', 'commands']);
    assert.deepEqual(hello.open_requests, ['req-7']);
  });

  it('a last_seq within the store: goes online and resends what follows it', async (t) => {
    const { link, emitTelemetry } = await startAgent(t);
    emitTelemetry(5);
    link.connect();
    link.welcome(3);
    assert.equal(link.welcomed, 1);
    assert.deepEqual(link.sink.seqs(), [4, 5], 'the hub processed 1–3');
    assert.deepEqual(link.refusals, []);
  });

  it('a last_seq above the store: a new store numbering on from it, hello again, then online', async (t) => {
    const { link, outbox, emitTelemetry } = await startAgent(t);
    emitTelemetry(2);
    const first = link.connect();
    link.welcome(40); // the hub processed seqs this store never gave out (its counter was lost)
    assert.equal(link.welcomed, 0, 'not online on that welcome');
    assert.equal(link.hellos.length, 2, 'a second hello');
    const second = link.hellos[1] ?? {};
    assert.notEqual(second.store_id, first.store_id);
    assert.equal(second.store_id, outbox.storeId);
    assert.equal(second.seq, 40);

    link.welcome(40);
    assert.equal(link.welcomed, 1);
    assert.equal(link.status.kind, 'online');
    link.sink.frames.length = 0;
    emitTelemetry(1);
    assert.deepEqual(link.sink.seqs(), [41], 'numbered on from the hub’s last_seq');
  });

  it('a last_seq past MAX_SEQ_BASE: refuses the welcome with hub_seq_invalid and stores nothing', async (t) => {
    const { link, outbox, lines, dir, emitTelemetry } = await startAgent(t);
    emitTelemetry(2);
    link.connect();
    const storeId = outbox.storeId;
    const broken = MAX_SEQ_BASE + 1;
    link.welcome(broken);
    assert.deepEqual(
      link.refusals.map((r) => r.code),
      ['hub_seq_invalid'],
    );
    assert.equal(link.welcomed, 0);
    assert.equal(link.hellos.length, 1, 'no second hello');
    assert.equal(outbox.storeId, storeId, 'no new store');
    assert.equal(outbox.lastSeq, 2);
    assert.ok(codes(lines).includes('hub_seq_invalid'));
    assert.ok(!readFileSync(join(dir, 'store.json'), 'utf8').includes(String(broken)));
  });

  it('a welcome for another device id: logs device_mismatch and stays connected', async (t) => {
    const { link, lines } = await startAgent(t);
    link.connect();
    link.welcome(0, 'dev-2');
    const mismatch = lines.find((l) => l.code === 'device_mismatch');
    assert.ok(mismatch, 'logged');
    assert.equal(mismatch.got, 'dev-2');
    assert.deepEqual(link.refusals, []);
    assert.equal(link.welcomed, 1);
    assert.equal(link.status.kind, 'online');
  });
});

describe('Agent online', () => {
  it('answers a binary frame with an error frame (invalid_json)', async (t) => {
    const { link, clock, lines } = await startAgent(t);
    link.connect();
    link.welcome(0);
    link.deliver(null);
    clock.advance(FLUSH_MS);
    const errors = link.sink.frames.filter((f) => f.type === 'error');
    assert.deepEqual(
      errors.map((f) => [f.channel, f.payload.code]),
      [['errors', 'invalid_json']],
    );
    assert.ok(codes(lines).includes('invalid_json'));
  });

  it('reports drops in a status message when its store recovers while online', async (t) => {
    // An earlier run left three unacknowledged messages on disk.
    const rigs = agentRigs(t);
    const dir = rigs.dir();
    const earlier = await rigs.start({ dir });
    earlier.emitTelemetry(3);
    await earlier.agent.stop();

    const fs = new FaultyFs();
    fs.readError = 'EIO'; // the store cannot be read at start: the agent runs from memory
    const { link, clock, outbox, emitTelemetry } = await rigs.start({ dir, fs });
    assert.equal(outbox.stats().storage, 'memory');
    link.connect();
    link.welcome(0);
    emitTelemetry(2); // numbered in a store of the memory phase's own, and processed
    link.deliver({ type: 'ack', payload: { seq: 2 } });
    assert.deepEqual(
      link.sink.frames.map((f) => f.type),
      ['telemetry', 'telemetry'],
      'no report yet',
    );

    fs.readError = null;
    clock.advance(RETRY_MS); // the disk is back: the store found there was abandoned
    clock.advance(FLUSH_MS);
    const status = link.sink.frames.filter((f) => f.type === 'status');
    assert.equal(status.length, 1);
    const report = status[0]?.payload ?? {};
    assert.equal(report.report, 'dropped');
    assert.deepEqual(
      (report.drops as { reason: string; count: number }[]).map((d) => [d.reason, d.count]),
      [['store_abandoned', 3]],
    );
  });
});
