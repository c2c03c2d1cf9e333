import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeviceRegistry, summary } from '../../src/hub/device-registry.js';
import type { IdSource } from '../../src/hub/ids.js';
import { ForwardedRequests, isFinalReply, isReply } from '../../src/hub/forwarded-requests.js';
import { SubscriptionRegistry } from '../../src/hub/subscriptions.js';
import { MAX_STREAM_NUMBER } from '../../src/protocol/byte-frame.js';
import type { HelloPayload } from '../../src/protocol/to-hub.js';
import { FakeClock } from '../helpers/fake-clock.js';

function counterIds(): IdSource {
  let n = 0;
  return (prefix) => `${prefix}_${++n}`;
}

describe('SubscriptionRegistry', () => {
  it('matches by device and stream, and removes only the owner’s subscriptions', () => {
    const registry = new SubscriptionRegistry<string>(counterIds());
    const a = registry.add('client-a', 'dev', ['cpu', 'cpu', 'mem']);
    const b = registry.add('client-b', 'dev', ['cpu']);
    registry.add('client-b', 'other', ['cpu']);
    assert.deepEqual([...a.streams], ['cpu', 'mem']);
    assert.deepEqual(
      registry.matching('dev', 'cpu').map((s) => s.id),
      [a.id, b.id],
    );
    assert.deepEqual(
      registry.matching('dev', 'mem').map((s) => s.id),
      [a.id],
    );
    assert.deepEqual(registry.matching('dev', 'disk'), []);
    assert.equal(registry.remove('client-b', a.id), undefined, 'not its subscription');
    assert.equal(registry.remove('client-a', a.id), a);
    assert.equal(registry.remove('client-a', a.id), undefined);
    assert.deepEqual(registry.removeClient('client-b').length, 2);
    assert.deepEqual(registry.list(), []);
  });

  it('reports changes of the streams wanted per device, and only changes', () => {
    const registry = new SubscriptionRegistry<string>(counterIds());
    const changes: string[] = [];
    const off = registry.onStreamsChanged((deviceId, streams) =>
      changes.push(`${deviceId}:${streams.join(',')}`),
    );
    const s1 = registry.add('c1', 'dev', ['mem', 'cpu']);
    registry.add('c2', 'dev', ['cpu']); // no change
    registry.add('c2', 'other', ['disk']);
    registry.remove('c1', s1.id);
    registry.removeClient('c2');
    off();
    registry.add('c3', 'dev', ['x']);
    assert.deepEqual(changes, ['dev:cpu,mem', 'other:disk', 'dev:cpu', 'dev:', 'other:']);
  });

  it('retries an id that is already taken', () => {
    const ids = ['sub_1', 'sub_1', 'sub_2'];
    const registry = new SubscriptionRegistry<string>(() => ids.shift() ?? 'sub_x');
    assert.equal(registry.add('c', 'd', ['s']).id, 'sub_1');
    assert.equal(registry.add('c', 'd', ['s']).id, 'sub_2');
    const stuck = new SubscriptionRegistry<string>(() => 'same');
    stuck.add('c', 'd', ['s']);
    assert.throws(() => stuck.add('c', 'd', ['s']), /in use/);
  });
});

describe('ForwardedRequests', () => {
  it('numbers device streams from a random start, so a restarted hub does not reuse the old ones', () => {
    const bytes = { device: true, client: undefined };
    const firsts = Array.from(
      { length: 4 },
      () =>
        new ForwardedRequests<string, string>(counterIds()).open('session', 'c', 's', 'd', bytes)
          .deviceStream,
    );
    assert.ok(new Set(firsts).size > 1, `first numbers of four hubs: ${firsts.join(', ')}`);
    const wrapping = new ForwardedRequests<string, string>(counterIds(), MAX_STREAM_NUMBER);
    assert.equal(wrapping.open('command', 'c', 'a', 'd', bytes).deviceStream, MAX_STREAM_NUMBER);
    assert.equal(wrapping.open('command', 'c', 'b', 'd', bytes).deviceStream, 1);
  });

  it('keys requests by hub id, finds by client request id, and closes by client or device', () => {
    const requests = new ForwardedRequests<string, string>(counterIds());
    const r1 = requests.open('command', 'client-a', 'cmd-1', 'dev-link-1');
    const r2 = requests.open('command', 'client-b', 'cmd-1', 'dev-link-1');
    const r3 = requests.open('command', 'client-a', undefined, 'dev-link-2');
    assert.notEqual(r1.id, r2.id);
    assert.equal(requests.get(r2.id), r2);
    assert.equal(requests.findByClientRequest('client-a', 'cmd-1'), r1);
    assert.equal(requests.findByClientRequest('client-b', 'cmd-1'), r2);
    assert.equal(requests.findByClientRequest('client-a', 'cmd-2'), undefined);
    assert.deepEqual(requests.closeForDevice('dev-link-1'), [r1, r2]);
    assert.equal(requests.get(r1.id), undefined);
    assert.deepEqual(requests.closeForClient('client-a'), [r3]);
    assert.equal(requests.size, 0);
  });

  it('knows which frames answer a command and which end it', () => {
    assert.ok(isReply('command', 'command_output'));
    assert.ok(isReply('command', 'error'));
    assert.ok(!isReply('command', 'telemetry'));
    assert.ok(isFinalReply('command', 'command_done'));
    assert.ok(isFinalReply('command', 'error'));
    assert.ok(!isFinalReply('command', 'command_output'));
  });
});

describe('DeviceRegistry', () => {
  const hello = {
    device_id: 'dev',
    agent_version: '1.2.3',
    protocol: 1,
    capabilities: ['x'],
  } as HelloPayload;

  it('tracks connection, replacement and last_seen with the injected clock', () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 6, 14, 0, 0));
    const registry = new DeviceRegistry<{ deviceId: string }>(['dev'], clock);
    assert.deepEqual(summary(registry.record('dev')!), {
      device_id: 'dev',
      connected: false,
      connected_since: null,
      last_seen: null,
      agent_version: null,
      hostname: null,
      os: null,
      kernel: null,
      arch: null,
      model: null,
      capabilities: [],
      update: null,
    });
    const first = { deviceId: 'dev' };
    assert.equal(registry.attach(first), null);
    assert.equal(registry.onlineLink('dev'), null, 'not online before hello');
    clock.advance(1_000);
    registry.markReady(first, hello);
    assert.equal(registry.onlineLink('dev'), first);
    assert.equal(registry.record('dev')?.connected_since, '2026-05-06T14:00:01.000Z');
    clock.advance(5_000);
    registry.touch(first);
    assert.equal(registry.record('dev')?.last_seen, '2026-05-06T14:00:06.000Z');

    const second = { deviceId: 'dev' };
    assert.equal(registry.attach(second), first);
    assert.equal(registry.detach(first), false, 'the replaced link no longer counts');
    registry.markReady(first, hello); // a late hello on the old link changes nothing
    assert.equal(registry.onlineLink('dev'), null);
    registry.markReady(second, hello);
    assert.equal(registry.detach(second), true);
    const record = registry.record('dev');
    assert.equal(record?.connected, false);
    assert.equal(record?.agent_version, '1.2.3');
  });

  it('learns devices that connect without a token entry and lists all by id', () => {
    const registry = new DeviceRegistry<{ deviceId: string }>(['b'], new FakeClock());
    registry.attach({ deviceId: 'a' });
    assert.ok(registry.isKnown('a'));
    assert.ok(!registry.isKnown('c'));
    assert.deepEqual(
      registry.records().map((r) => r.device_id),
      ['a', 'b'],
    );
  });
});
