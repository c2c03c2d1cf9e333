import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { SubscriptionRegistry } from '../../src/hub/subscriptions.js';
import { streamCovers } from '../../src/protocol/fields.js';
import { expandStreamNames } from '../../src/telemetry/stream-specs.js';

function load(env: Record<string, string>) {
  return loadConfig({
    env,
    flags: {},
    readFile: () => {
      throw Object.assign(new Error('none'), { code: 'ENOENT' });
    },
  }).config.telemetry;
}

function problems(env: Record<string, string>): string[] {
  try {
    load(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  return assert.fail('expected a ConfigError');
}

describe('telemetry configuration', () => {
  it('takes lists as JSON or comma-separated text, and JSON for structured keys', () => {
    const t = load({
      IOTTLY_TELEMETRY_STREAMS: 'cpu, network',
      IOTTLY_TELEMETRY_NETWORK_INTERFACES: '["eth0","wlan0"]',
      IOTTLY_TELEMETRY_PER_STREAM: '{"cpu":{"intervalMs":5000,"deadband":2}}',
      IOTTLY_TELEMETRY_CUSTOM:
        '[{"name":"soc","command":"vcgencmd measure_temp","timeoutMs":2000}]',
      IOTTLY_TELEMETRY_RANDOM_START: 'false',
    });
    assert.deepEqual(t.streams, ['cpu', 'network']);
    assert.deepEqual(t.networkInterfaces, ['eth0', 'wlan0']);
    assert.deepEqual(t.perStream, { cpu: { intervalMs: 5000, deadband: 2 } });
    assert.deepEqual(t.custom, [
      { name: 'soc', command: 'vcgencmd measure_temp', timeoutMs: 2000 },
    ]);
    assert.equal(t.randomStart, false);
  });

  it('names the key, the source and the problem for each bad value', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { IOTTLY_TELEMETRY_STREAMS: 'cpu,gpu' },
        /telemetry\.streams.*env IOTTLY_TELEMETRY_STREAMS.*unknown stream "gpu"/,
      ],
      [{ IOTTLY_TELEMETRY_INTERVAL_MS: '10s' }, /telemetry\.intervalMs.*integer/],
      [
        { IOTTLY_TELEMETRY_PER_STREAM: '{"cpu":{"deadband":-1}}' },
        /value\.cpu\.deadband: expected number in \[0/,
      ],
      [{ IOTTLY_TELEMETRY_PER_STREAM: 'cpu=1' }, /telemetry\.perStream.*expected object/],
      [
        { IOTTLY_TELEMETRY_CUSTOM: '[{"name":"x","command":"true"}]' },
        /value\[0\]\.timeoutMs: required/,
      ],
      [
        { IOTTLY_TELEMETRY_CUSTOM: '[{"name":"x","file":"/a","command":"b","timeoutMs":1}]' },
        /not both/,
      ],
      [
        { IOTTLY_TELEMETRY_CUSTOM: '[{"name":"network","file":"/a"}]' },
        /already the name of another stream/,
      ],
      [
        { IOTTLY_TELEMETRY_CUSTOM: '[{"name":"a","file":"/a"},{"name":"a","file":"/b"}]' },
        /already the name/,
      ],
      [{ IOTTLY_TELEMETRY_NETWORK_INTERFACES: 'eth0,bad/name' }, /telemetry\.networkInterfaces/],
      [{ IOTTLY_TELEMETRY_RANDOM_START: 'yes' }, /telemetry\.randomStart.*true or false/],
    ];
    for (const [env, expected] of cases) {
      const found = problems(env);
      assert.equal(found.length, 1, JSON.stringify(found));
      assert.match(found[0] as string, expected);
    }
  });
});

describe('stream names', () => {
  it('cover their dotted members, in the hub and in the agent', () => {
    assert.ok(streamCovers('network', 'network.rx'));
    assert.ok(streamCovers('cpu', 'cpu'));
    assert.ok(!streamCovers('network', 'networking'));
    assert.ok(!streamCovers('network.rx', 'network'));
    assert.deepEqual(
      expandStreamNames(['network', 'cpu', 'gpu', 'cpu'], ['cpu', 'network.rx', 'network.tx']),
      ['network.rx', 'network.tx', 'cpu', 'gpu'],
    );
  });

  it('the hub keeps per stream the fastest interval any subscription asked for', () => {
    let n = 0;
    const registry = new SubscriptionRegistry<string>((prefix) => `${prefix}_${++n}`);
    const changes: unknown[] = [];
    registry.onStreamsChanged((_device, _names, demand) => changes.push(demand));
    registry.add('a', 'dev', ['cpu', 'memory'], 5000);
    const fast = registry.add('b', 'dev', ['cpu'], 1000);
    registry.add('c', 'dev', ['cpu']); // no interval: no change
    registry.remove('b', fast.id);
    assert.deepEqual(changes, [
      [
        { name: 'cpu', interval_ms: 5000 },
        { name: 'memory', interval_ms: 5000 },
      ],
      [
        { name: 'cpu', interval_ms: 1000 },
        { name: 'memory', interval_ms: 5000 },
      ],
      [
        { name: 'cpu', interval_ms: 5000 },
        { name: 'memory', interval_ms: 5000 },
      ],
    ]);
    assert.deepEqual(registry.matching('dev', 'memory').length, 1);
    registry.add('d', 'dev', ['network']);
    assert.deepEqual(
      registry.matching('dev', 'network.tx').map((s) => s.client),
      ['d'],
    );
  });
});
