import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { Broker } from '../../src/hub/broker.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import type { HelloPayload } from '../../src/protocol/to-hub.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeClient, FakeDevice, frame } from '../helpers/fake-links.js';
import { CloseCode } from '../../src/protocol/close-codes.js';

/** The broker's side of the memory bounds: push-back, drops for slow clients, per-client caps. */
const hello = {
  device_id: 'dev',
  agent_version: '1',
  protocol: 1,
  capabilities: ['telemetry:cpu'],
};

describe('Broker memory bounds', () => {
  let broker: Broker;
  let clock: FakeClock;
  let device: FakeDevice;
  let n: number;

  beforeEach(() => {
    n = 0;
    clock = new FakeClock();
    broker = new Broker({
      knownDeviceIds: ['dev'],
      clock,
      logger: pino({ level: 'silent' }),
      ids: (prefix) => `${prefix}_${++n}`,
      maxSubscriptionsPerClient: 2,
      maxRequestsPerClient: 2,
      maxPushBackMs: 1_000,
    });
    device = new FakeDevice('dev');
    broker.deviceAttached(device);
    broker.deviceReady(device, hello as HelloPayload, 0);
  });

  function startCommand(client: FakeClient, requestId: string): string {
    broker.clientFrame(client, frame('command', { device_id: 'dev', command: 'yes' }, requestId));
    const forwarded = device.sent.at(-1);
    assert.equal(forwarded?.type, 'command');
    return String(forwarded.request_id);
  }

  const output = (hubRequestId: string) =>
    frame('command_output', { chunk: 'y\n', fd: 'stdout' }, hubRequestId);

  it('pauses the device while a client waiting on its output is backed up, and resumes it on drain', () => {
    const client = new FakeClient('c');
    const hubRequestId = startCommand(client, 'cmd');
    broker.deviceFrame(device, output(hubRequestId));
    assert.equal(device.readingPaused, false);
    client.backedUp = true;
    broker.deviceFrame(device, output(hubRequestId));
    assert.equal(device.readingPaused, true);
    assert.equal(client.sent.filter((m) => m.type === 'command_output').length, 2);
    client.drain();
    assert.equal(device.readingPaused, false);
  });

  it('keeps the device paused until every client holding it has drained', () => {
    const a = new FakeClient('a');
    const b = new FakeClient('b');
    const requestA = startCommand(a, 'x');
    const requestB = startCommand(b, 'y');
    a.backedUp = true;
    b.backedUp = true;
    broker.deviceFrame(device, output(requestA));
    broker.deviceFrame(device, output(requestB));
    a.drain();
    assert.equal(device.readingPaused, true);
    broker.clientClosed(b, 1000, '');
    assert.equal(device.readingPaused, false);
  });

  it('closes a client that holds a device longer than maxPushBackMs with 4008, and resumes the device', () => {
    const client = new FakeClient('c');
    const hubRequestId = startCommand(client, 'cmd');
    client.backedUp = true;
    broker.deviceFrame(device, output(hubRequestId));
    clock.advance(999);
    assert.deepEqual(client.closes, []);
    clock.advance(1);
    assert.deepEqual(client.closes, [[CloseCode.slowConsumer, 'slow consumer']]);
    assert.equal(device.readingPaused, false);
  });

  it('offers telemetry to a backed-up client (it drops it) but sends replies', () => {
    const client = new FakeClient('c');
    broker.clientFrame(client, frame('subscribe', { device_id: 'dev', streams: ['cpu'] }, 's'));
    client.backedUp = true;
    broker.deviceFrame(device, frame('telemetry', { stream: 'cpu', ts: 't', value: 1 }));
    assert.equal(client.dropped, 1);
    assert.equal(client.sent.filter((m) => m.type === 'telemetry').length, 0);
  });

  it('refuses command, app_command and command_input to a backed-up device with device_busy', () => {
    const client = new FakeClient('c');
    startCommand(client, 'running');
    device.backedUp = true;
    const before = device.sent.length;
    broker.clientFrame(client, frame('command', { device_id: 'dev', command: 'ls' }, 'c2'));
    broker.clientFrame(
      client,
      frame('app_command', { device_id: 'dev', command: { go: {} } }, 'a1'),
    );
    broker.clientFrame(client, frame('command_input', { request_id: 'running', data: 'x' }, 'i'));
    assert.deepEqual(
      client.refused.map((e) => [e.code, e.request_id]),
      [
        [ErrorCode.deviceBusy, 'c2'],
        [ErrorCode.deviceBusy, 'a1'],
        [ErrorCode.deviceBusy, 'i'],
      ],
    );
    broker.clientFrame(client, frame('command_cancel', { request_id: 'running' }, 'k'));
    assert.deepEqual(
      device.sent.slice(before).map((m) => m.type),
      ['command_cancel'],
    );
  });

  it('caps subscriptions and waiting requests per client', () => {
    const client = new FakeClient('c');
    for (const id of ['s1', 's2', 's3'])
      broker.clientFrame(client, frame('subscribe', { device_id: 'dev', streams: ['cpu'] }, id));
    for (const id of ['r1', 'r2', 'r3'])
      broker.clientFrame(client, frame('command', { device_id: 'dev', command: 'ls' }, id));
    assert.deepEqual(
      client.refused.map((e) => [e.code, e.request_id]),
      [
        [ErrorCode.tooManySubscriptions, 's3'],
        [ErrorCode.tooManyRequests, 'r3'],
      ],
    );
    assert.equal(broker.subscriptions.list().length, 2);
    assert.equal(broker.requests.size, 2);
  });
});
