import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeDone, formatDuration, OutputDecoder } from '../../src/console/command-output.js';
import { ago, offeredStreams, parseDevices } from '../../src/console/devices.js';
import { takeSessionFromFragment } from '../../src/console/session-fragment.js';
import { TimeSeries } from '../../src/console/time-series.js';

describe('console: signed-in link', () => {
  it('takes the token out of the fragment and keeps the rest', () => {
    assert.deepEqual(takeSessionFromFragment('#session=ist_a.b.c'), {
      token: 'ist_a.b.c',
      rest: '',
    });
    assert.deepEqual(takeSessionFromFragment('#x=1&session=t'), { token: 't', rest: '#x=1' });
    assert.deepEqual(takeSessionFromFragment(''), { token: null, rest: '' });
    assert.deepEqual(takeSessionFromFragment('#session='), { token: null, rest: '' });
  });
});

describe('console: time series', () => {
  it('keeps points in time order, within the window and the capacity', () => {
    const series = new TimeSeries({ windowMs: 10_000, capacity: 5 });
    assert.equal(series.push(1_000, 1), true);
    assert.equal(series.push(1_000, 2), false, 'x must rise');
    assert.equal(series.push(500, 2), false, 'late frames are dropped');
    assert.equal(series.push(2_000, Number.NaN), false);
    for (let i = 2; i <= 8; i++) series.push(i * 1_000, i);
    assert.deepEqual(series.data(), [
      [4, 5, 6, 7, 8],
      [4, 5, 6, 7, 8],
    ]);
    series.push(30_000, 30);
    assert.deepEqual(series.data(), [[30], [30]], 'older than the window');
    assert.equal(series.latest, 30);
  });

  it('stays bounded over a month of one-second samples', () => {
    const series = new TimeSeries({ windowMs: 300_000, capacity: 600 });
    for (let s = 0; s < 2_592_000; s += 1) series.push(s * 1000, s % 100);
    assert.equal(series.length, 301);
  });
});

describe('console: command output', () => {
  it('shows text as it is and rebuilds base64 bytes, also split across chunks', () => {
    const decoder = new OutputDecoder();
    assert.equal(decoder.text({ chunk: 'plain ✓', fd: 'stdout' }), 'plain ✓');
    const euro = Buffer.from('€'); // three bytes, split over two base64 chunks
    assert.equal(
      decoder.text({
        chunk: euro.subarray(0, 1).toString('base64'),
        fd: 'stderr',
        encoding: 'base64',
      }),
      '',
    );
    assert.equal(
      decoder.text({
        chunk: euro.subarray(1).toString('base64'),
        fd: 'stderr',
        encoding: 'base64',
      }),
      '€',
    );
    assert.equal(
      decoder.text({
        chunk: Buffer.from([0xff]).toString('base64'),
        fd: 'stdout',
        encoding: 'base64',
      }),
      '\uFFFD',
    );
    assert.equal(decoder.text({ chunk: '%%%', fd: 'stdout', encoding: 'base64' }), '\uFFFD');
  });

  it('says how a command ended', () => {
    assert.deepEqual(describeDone({ exit_code: 0, duration_ms: 12 }), {
      text: 'exit 0 · 12 ms',
      ok: true,
    });
    assert.deepEqual(describeDone({ exit_code: 2, duration_ms: 1500 }), {
      text: 'exit 2 · 1.5 s',
      ok: false,
    });
    assert.deepEqual(
      describeDone({ exit_code: null, signal: 'SIGTERM', cancelled: true, duration_ms: 61_000 }),
      { text: 'cancelled · SIGTERM · 1 min 1 s', ok: false },
    );
    assert.equal(
      describeDone({ exit_code: null, signal: 'SIGKILL', timed_out: true, truncated: true }).text,
      'timed out · output truncated · SIGKILL',
    );
    assert.equal(formatDuration(999), '999 ms');
  });
});

describe('console: devices', () => {
  it('reads the device list defensively', () => {
    const devices = parseDevices([
      {
        device_id: 'a',
        connected: true,
        os: 'Debian',
        capabilities: ['telemetry:memory', 'commands', 'telemetry:cpu', 7],
      },
      { device_id: 5 },
      null,
      'x',
    ]);
    assert.equal(devices.length, 1);
    assert.equal(devices[0]?.os, 'Debian');
    assert.equal(devices[0]?.model, null);
    assert.deepEqual(devices[0]?.capabilities, ['telemetry:memory', 'commands', 'telemetry:cpu']);
    assert.deepEqual(parseDevices({ not: 'a list' }), []);
  });

  it('orders the offered streams, with defaults for a device that lists none', () => {
    const [device] = parseDevices([
      {
        device_id: 'a',
        capabilities: [
          'telemetry:uptime',
          'telemetry:network.tx',
          'telemetry:cpu',
          'telemetry:bad name',
          'telemetry:cpu',
        ],
      },
    ]);
    assert.deepEqual(offeredStreams(device!), ['cpu', 'network.tx', 'uptime']);
    assert.deepEqual(offeredStreams({ ...device!, capabilities: ['commands'] }), [
      'cpu',
      'memory',
      'temperature',
    ]);
  });

  it('says how long ago', () => {
    const now = Date.parse('2026-05-06T12:00:00Z');
    assert.equal(ago(null, now), 'never');
    assert.equal(ago('2026-05-06T12:00:00Z', now), 'just now');
    assert.equal(ago('2026-05-06T11:59:18Z', now), '42 s ago');
    assert.equal(ago('2026-05-06T11:57:00Z', now), '3 min ago');
    assert.equal(ago('2026-05-06T09:00:00Z', now), '3 h ago');
    assert.equal(ago('2026-05-01T12:00:00Z', now), '5 d ago');
    assert.equal(ago('garbage', now), 'unknown');
  });
});
