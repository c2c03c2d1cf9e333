import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentContext } from '../../src/agent/agent.js';
import { MemoryOutbox } from '../../src/agent/outbox.js';
import { routerAndSessions } from '../helpers/router-sessions.js';
import { VitalsFeature } from '../../src/agent/vitals.js';
import { loadConfig } from '../../src/config/load.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { captureLogger } from '../helpers/log-capture.js';

const MiB = 1024 * 1024;

function harness(intervalMs = 10_000) {
  const clock = new FakeClock();
  const { logger, lines } = captureLogger('info');
  let heapUsed = 20 * MiB;
  const context: AgentContext = {
    deviceId: 'dev-1',
    clock,
    logger,
    outbox: new MemoryOutbox({ maxMessages: 10, highWaterBytes: 1024 }),
    ...routerAndSessions(logger),
    emit: () => {},
    speaksBytes: () => false,
    emitBytes: () => {},
    status: () => ({ kind: 'backoff', attempt: 2, delayMs: 4000, reason: 'dial timeout' }),
    onStatus: () => () => {},
  };
  const feature = new VitalsFeature({
    intervalMs,
    clock,
    memoryUsage: () => ({
      rss: 60 * MiB,
      heapUsed: (heapUsed += MiB),
      heapTotal: 40 * MiB,
      external: 2 * MiB,
      arrayBuffers: MiB,
    }),
  });
  feature.start(context);
  const vitals = () => lines.filter((line) => line.code === 'vitals');
  return { clock, feature, vitals };
}

describe('VitalsFeature', () => {
  it('logs memory, heap, link and outbox once per interval', () => {
    const { clock, vitals } = harness();
    clock.advance(9_999);
    assert.equal(vitals().length, 0, 'nothing before the first interval');
    clock.advance(1);
    clock.advance(10_000);
    const [first, second] = vitals();
    assert.equal(vitals().length, 2);
    assert.equal(first?.msg, 'agent vitals');
    assert.deepEqual(first?.memory, {
      rss: 60 * MiB,
      heapUsed: 21 * MiB,
      heapTotal: 40 * MiB,
      external: 2 * MiB,
      arrayBuffers: MiB,
    });
    assert.equal(first?.link, 'backoff');
    assert.deepEqual(first?.outbox, { depth: 0, dropped: 0, sent: 0 });
    assert.equal(first?.uptimeS, 10);
    assert.equal((second?.memory as { heapUsed: number }).heapUsed, 22 * MiB);
    assert.equal(second?.uptimeS, 20);
  });

  it('stops logging when stopped', async () => {
    const { clock, feature, vitals } = harness();
    clock.advance(10_000);
    await feature.stop();
    clock.advance(60_000);
    assert.equal(vitals().length, 1);
    assert.equal(clock.pendingTimers(), 0, 'no timer left armed');
  });

  it('refuses an interval that is not positive', () => {
    assert.throws(
      () => new VitalsFeature({ intervalMs: 0, clock: new FakeClock() }),
      /intervalMs must be positive, got 0/,
    );
  });

  it('vitals.intervalS: 0 turns the line off, a non-integer is refused naming the key', () => {
    const load = (value: string) =>
      loadConfig({
        configPath: undefined,
        env: {
          IOTTLY_SERVER_URL: 'ws://127.0.0.1:1/v1/device',
          IOTTLY_DEVICE_ID: 'dev-1',
          IOTTLY_AUTH_TOKEN: 't',
          IOTTLY_VITALS_INTERVAL_S: value,
        },
        flags: {},
        readFile: () => {
          throw Object.assign(new Error('no file'), { code: 'ENOENT' });
        },
      });
    assert.equal(load('0').config.vitals.intervalS, 0);
    assert.equal(load('30').config.vitals.intervalS, 30);
    assert.throws(
      () => load('30s'),
      (err: { problems?: string[] }) =>
        /vitals\.intervalS.*IOTTLY_VITALS_INTERVAL_S/.test(err.problems?.join('\n') ?? ''),
    );
  });
});
