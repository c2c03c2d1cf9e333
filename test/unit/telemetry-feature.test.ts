import assert from 'node:assert/strict';
import { childBaseEnv } from '../../src/process/child-env.js';
import { after, describe, it } from 'node:test';
import type { AgentContext } from '../../src/agent/agent.js';
import type { Outbox } from '../../src/agent/outbox.js';
import { routerAndSessions } from '../helpers/router-sessions.js';
import type { ConnectionStatus } from '../../src/agent/connection-status.js';
import { loadConfig } from '../../src/config/load.js';
import type { FrameError } from '../../src/protocol/parse.js';
import { TelemetryFeature, type TelemetrySettings } from '../../src/telemetry/telemetry-feature.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { captureLogger, WARN } from '../helpers/log-capture.js';
import { realCommandRunner } from '../helpers/real-runner.js';
import {
  procFixture,
  statText,
  writeBasicProc,
  type ProcFixture,
} from '../helpers/proc-fixture.js';

const fixtures: ProcFixture[] = [];
after(() => fixtures.forEach((f) => f.remove()));

/** Settings as the config loader makes them, with the fixture's roots. */
function settings(f: ProcFixture, overrides: Record<string, string> = {}): TelemetrySettings {
  return loadConfig({
    env: {},
    flags: {
      'telemetry.procRoot': f.procRoot,
      'telemetry.sysRoot': f.sysRoot,
      'telemetry.randomStart': 'false',
      ...overrides,
    },
    readFile: () => {
      throw Object.assign(new Error('none'), { code: 'ENOENT' });
    },
  }).config.telemetry;
}

interface Emitted {
  type: string;
  channel: string | null;
  payload: Record<string, unknown>;
}

function harness(
  overrides: Record<string, string> = {},
  prepare?: (f: ProcFixture) => void,
  random = () => 0.5,
) {
  const f = procFixture();
  fixtures.push(f);
  writeBasicProc(f);
  prepare?.(f);
  const clock = new FakeClock();
  const { logger, lines } = captureLogger();
  const emitted: Emitted[] = [];
  const badFrames: FrameError[] = [];
  const { router, sessions } = routerAndSessions(logger, (e) => badFrames.push(e));
  const statusListeners = new Set<(s: ConnectionStatus) => void>();
  const context: AgentContext = {
    deviceId: 'dev-1',
    clock,
    logger,
    outbox: {} as Outbox,
    router,
    sessions,
    emit: (type, channel, payload) => emitted.push({ type, channel, payload }),
    speaksBytes: () => false,
    emitBytes: () => {},
    status: () => ({ kind: 'online', since: '', url: '' }),
    onStatus: (listener) => {
      statusListeners.add(listener);
      return () => statusListeners.delete(listener);
    },
  };
  const feature = new TelemetryFeature({
    settings: settings(f, overrides),
    clock,
    random,
    runner: realCommandRunner(),
    env: childBaseEnv(process.env),
    statfs: () => ({ blocks: 100, bfree: 40, bavail: 40 }),
  });
  feature.start(context);
  const telemetry = (stream?: string) =>
    emitted.filter((e) => e.type === 'telemetry' && (!stream || e.payload.stream === stream));
  const setStatus = (status: ConnectionStatus) => statusListeners.forEach((l) => l(status));
  return { f, clock, lines, emitted, badFrames, router, feature, telemetry, setStatus };
}

describe('TelemetryFeature', () => {
  it('announces what the device provides and samples the configured streams', async () => {
    const h = harness({ 'telemetry.streams': 'cpu,memory', 'telemetry.intervalMs': '1000' });
    assert.deepEqual(h.feature.capabilities(), [
      'telemetry:cpu',
      'telemetry:disk',
      'telemetry:load',
      'telemetry:memory',
      'telemetry:network.rx',
      'telemetry:network.tx',
      'telemetry:uptime',
    ]);
    h.f.write('proc/stat', statText({ user: 150, system: 50, idle: 900 })); // +50 busy of 100
    h.clock.advance(1000);
    assert.deepEqual(h.telemetry('cpu')[0], {
      type: 'telemetry',
      channel: 'telemetry',
      payload: {
        device_id: 'dev-1',
        stream: 'cpu',
        ts: new Date(h.clock.epochMs + 1000).toISOString(),
        value: 50,
      },
    });
    assert.equal(h.telemetry('memory')[0]?.payload.value, 60);
    h.clock.advance(9000);
    assert.equal(h.telemetry().length, 20);
    await h.feature.stop();
    assert.equal(h.clock.pendingTimers(), 0);
  });

  it('with randomStart, starts all streams at one random phase per device, so they come due together', async () => {
    const startTimes = async (random: () => number) => {
      const h = harness(
        {
          'telemetry.randomStart': 'true',
          'telemetry.streams': 'cpu,memory,load',
          'telemetry.intervalMs': '1000',
          'telemetry.perStream': '{"memory":{"intervalMs":5000}}',
        },
        undefined,
        random,
      );
      h.clock.advance(20_000);
      const at = (stream: string) => h.telemetry(stream).map((e) => String(e.payload.ts));
      const [cpu, memory, load] = [at('cpu'), at('memory'), at('load')];
      await h.feature.stop();
      // Every sample of the slower stream falls on a tick of the faster ones.
      assert.deepEqual(load, cpu);
      assert.equal(memory.length, 4);
      assert.ok(
        memory.every((ts) => cpu.includes(ts)),
        `${memory} within ${cpu}`,
      );
      return {
        cpu: Date.parse(cpu[0] ?? '') - h.clock.epochMs,
        memory: Date.parse(memory[0] ?? '') - h.clock.epochMs,
      };
    };
    // The phase is random × 24 h, taken modulo each interval: 10,661,760 ms and 37,333,440 ms.
    assert.deepEqual(await startTimes(() => 0.1234), { cpu: 760, memory: 1760 });
    assert.deepEqual(await startTimes(() => 0.4321), { cpu: 440, memory: 3440 });
  });

  it('reports a missing thermal zone once: absent from capabilities, one warning, no nulls', async () => {
    const h = harness({ 'telemetry.intervalMs': '1000' });
    assert.ok(!h.feature.capabilities().includes('telemetry:temperature'));
    h.clock.advance(60_000);
    const warnings = h.lines.filter((l) => l.level === WARN);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.code, 'stream_unavailable');
    assert.equal(warnings[0]?.stream, 'temperature');
    assert.equal(h.telemetry('temperature').length, 0);
    assert.ok(h.telemetry().every((e) => typeof e.payload.value === 'number'));
    // A subscription to it later does not warn again.
    h.router.dispatch(
      JSON.stringify({ type: 'streams', payload: { streams: [{ name: 'temperature' }] } }),
    );
    assert.equal(h.lines.filter((l) => l.level === WARN).length, 1);
    await h.feature.stop();
  });

  it('reads the configured thermal zone in °C', async () => {
    const h = harness(
      { 'telemetry.streams': 'temperature', 'telemetry.thermalZone': 'cpu-thermal' },
      (f) => {
        f.write('sys/class/thermal/thermal_zone0/type', 'cpu-thermal\n');
        f.write('sys/class/thermal/thermal_zone0/temp', '53692\n');
      },
    );
    assert.ok(h.feature.capabilities().includes('telemetry:temperature'));
    h.clock.advance(10_000);
    assert.equal(h.telemetry('temperature')[0]?.payload.value, 53.692);
    await h.feature.stop();
  });

  it('samples subscribed streams on demand, at the asked rate bounded by config, until the demand ends', async () => {
    const h = harness({
      'telemetry.streams': 'cpu',
      'telemetry.intervalMs': '10000',
      'telemetry.minIntervalMs': '500',
    });
    assert.deepEqual(h.feature.sampling(), { cpu: 10_000 });
    h.router.dispatch(
      JSON.stringify({
        type: 'streams',
        payload: {
          streams: [
            { name: 'load', interval_ms: 100 },
            { name: 'network' },
            { name: 'cpu', interval_ms: 2000 },
          ],
        },
      }),
    );
    assert.deepEqual(h.badFrames, []);
    assert.deepEqual(h.feature.sampling(), {
      cpu: 2000,
      load: 500,
      'network.rx': 10_000,
      'network.tx': 10_000,
    });
    h.clock.advance(2000);
    assert.equal(h.telemetry('load').length, 4); // first after 250 ms, then every 500 ms
    h.router.dispatch(JSON.stringify({ type: 'streams', payload: { streams: [] } }));
    assert.deepEqual(h.feature.sampling(), { cpu: 10_000 });
    const loads = h.telemetry('load').length;
    h.clock.advance(5000);
    assert.equal(h.telemetry('load').length, loads);
    await h.feature.stop();
  });

  it('drops the demand when the link goes down (the hub sends it again after welcome)', async () => {
    const h = harness({ 'telemetry.streams': 'cpu' });
    h.router.dispatch(
      JSON.stringify({ type: 'streams', payload: { streams: [{ name: 'uptime' }] } }),
    );
    assert.ok('uptime' in h.feature.sampling());
    h.setStatus({ kind: 'backoff', attempt: 1, delayMs: 1000, reason: 'closed' });
    assert.deepEqual(Object.keys(h.feature.sampling()), ['cpu']);
    await h.feature.stop();
  });

  it('refuses a malformed streams message with invalid_payload', async () => {
    const h = harness();
    h.router.dispatch(JSON.stringify({ type: 'streams', payload: { streams: [{ name: 7 }] } }));
    h.router.dispatch(
      JSON.stringify({ type: 'streams', payload: { streams: [{ name: 'cpu', interval_ms: -1 }] } }),
    );
    assert.deepEqual(
      h.badFrames.map((e) => e.code),
      ['invalid_payload', 'invalid_payload'],
    );
    await h.feature.stop();
  });

  it('runs custom file streams (scaled), and sends the stream error once when a read fails', async () => {
    const f = procFixture();
    fixtures.push(f);
    const battery = `${f.sysRoot}/class/power_supply/BAT0/voltage_now`;
    const g = harness(
      {
        'telemetry.streams': '',
        'telemetry.custom': JSON.stringify([{ name: 'battery', file: battery, scale: 0.000001 }]),
        'telemetry.intervalMs': '1000',
      },
      () => f.write('sys/class/power_supply/BAT0/voltage_now', '12450000\n'),
    );
    assert.ok(g.feature.capabilities().includes('telemetry:battery'));
    g.clock.advance(1000);
    assert.equal(g.telemetry('battery')[0]?.payload.value, 12.45);
    f.write('sys/class/power_supply/BAT0/voltage_now', 'unknown\n');
    g.clock.advance(5000);
    const errors = g.emitted.filter((e) => e.type === 'error');
    assert.equal(errors.length, 1);
    assert.deepEqual(errors[0], {
      type: 'error',
      channel: 'errors',
      payload: {
        code: 'telemetry_read_failed',
        message: 'battery: not a number: "unknown\\n"',
        stream: 'battery',
      },
    });
    await g.feature.stop();
  });
});
