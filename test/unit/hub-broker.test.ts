import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { Broker } from '../../src/hub/broker.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import type { HelloPayload } from '../../src/protocol/to-hub.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeClient, FakeDevice, frame } from '../helpers/fake-links.js';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { captureLogger } from '../helpers/log-capture.js';

const hello = {
  device_id: 'dev',
  agent_version: '1',
  protocol: 1,
  capabilities: [],
} as HelloPayload;

describe('Broker', () => {
  let broker: Broker;
  let n: number;

  beforeEach(() => {
    n = 0;
    broker = new Broker({
      knownDeviceIds: ['dev', 'idle'],
      clock: new FakeClock(),
      logger: pino({ level: 'silent' }),
      ids: (prefix) => `${prefix}_${++n}`,
    });
  });

  function online(deviceId = 'dev'): FakeDevice {
    const device = new FakeDevice(deviceId);
    broker.deviceAttached(device);
    broker.deviceReady(device, { ...hello, device_id: deviceId }, 0);
    return device;
  }

  it('closes a replaced device link with 4000', () => {
    const first = online();
    const second = online();
    assert.deepEqual(first.closes, [[CloseCode.replaced, 'replaced by a new connection']]);
    assert.deepEqual(second.closes, []);
  });

  it('logs a closed link’s WebSocket close code as closeCode: code is for log codes only', () => {
    const { logger, lines } = captureLogger('info');
    const logged = new Broker({
      knownDeviceIds: ['dev'],
      clock: new FakeClock(),
      logger,
      ids: () => 'x',
    });
    const device = new FakeDevice('dev');
    logged.deviceAttached(device);
    logged.deviceClosed(device, 1006, '');
    logged.clientClosed(new FakeClient('c'), CloseCode.normal, 'bye');
    const closes = lines.filter((l) => l.msg.endsWith(' disconnected'));
    assert.deepEqual(
      closes.map((l) => [l.msg, l.closeCode, l.code]),
      [
        ['device disconnected', 1006, undefined],
        ['stream client disconnected', CloseCode.normal, undefined],
      ],
    );
  });

  it('refuses telemetry that names another device', () => {
    const device = online();
    broker.deviceFrame(
      device,
      frame('telemetry', { device_id: 'idle', stream: 'cpu', ts: 't', value: 1 }, 'r'),
    );
    assert.equal(device.refused[0]?.code, ErrorCode.deviceMismatch);
    assert.equal(device.refused[0]?.request_id, 'r');
  });

  it('relays the client’s original payload and the agent’s, with the device seq as the only envelope field', () => {
    const device = online();
    const client = new FakeClient('c');
    const original = { device_id: 'dev', command: 'ls', future_field: { x: 1 } };
    broker.clientFrame(
      client,
      frame('command', { device_id: 'dev' }, 'cmd', { payload: original }),
    );
    assert.deepEqual(device.sent, [{ type: 'command', request_id: 'req_1', payload: original }]);

    broker.deviceFrame(
      device,
      frame('command_done', { exit_code: 0 }, 'req_1', {
        channel: 'commands',
        ts: 't',
        seq: 1,
        payload: { exit_code: 0, extra: true },
      }),
    );
    assert.deepEqual(client.sent, [
      { type: 'command_done', request_id: 'cmd', payload: { exit_code: 0, extra: true }, seq: 1 },
    ]);
  });

  it('drops replies from a device that is not the request’s, or to ended requests', () => {
    const device = online();
    const other = online('idle');
    const client = new FakeClient('c');
    broker.clientFrame(client, frame('command', { device_id: 'dev' }, 'cmd'));
    broker.deviceFrame(other, frame('command_done', { exit_code: 0 }, 'req_1'));
    assert.deepEqual(client.sent, []);
    broker.deviceFrame(device, frame('command_done', { exit_code: 0 }, 'req_1'));
    broker.deviceFrame(device, frame('command_done', { exit_code: 0 }, 'req_1'));
    assert.equal(client.sent.length, 1);
  });

  it('asks the device for a request_id on command replies, and never answers its errors', () => {
    const device = online();
    broker.deviceFrame(device, frame('command_output', { chunk: 'x', fd: 'stdout' }));
    assert.equal(device.refused[0]?.code, ErrorCode.invalidPayload);
    broker.deviceFrame(device, frame('error', { code: 'x', message: 'y' }));
    assert.equal(device.refused.length, 1);
    assert.deepEqual(device.sent, []);
  });

  it('answers device_offline when the device link cannot take the command', () => {
    const device = online();
    device.open = false;
    const client = new FakeClient('c');
    broker.clientFrame(client, frame('command', { device_id: 'dev' }, 'cmd'));
    assert.equal(client.refused[0]?.code, ErrorCode.deviceOffline);
    assert.equal(broker.requests.size, 0);
  });

  it('refuses a subscription without streams', () => {
    const client = new FakeClient('c');
    broker.clientFrame(client, frame('subscribe', { device_id: 'dev', streams: [] }, 's'));
    assert.equal(client.refused[0]?.code, ErrorCode.invalidPayload);
    assert.deepEqual(broker.subscriptions.list(), []);
  });

  it('answers subscribe/unsubscribe without request_id when the client sent none', () => {
    const client = new FakeClient('c');
    broker.clientFrame(client, frame('subscribe', { device_id: 'idle', streams: ['cpu'] }));
    broker.clientFrame(client, frame('unsubscribe', { subscription_id: 'sub_1' }));
    assert.deepEqual(client.sent, [
      { type: 'subscribed', payload: { subscription_id: 'sub_1' } },
      { type: 'unsubscribed', payload: { subscription_id: 'sub_1' } },
    ]);
  });

  describe('subscribe to what the device offers', () => {
    const capabilities = ['telemetry:cpu', 'telemetry:network.rx', 'telemetry:network.tx', 'apps'];

    function subscribe(streams: string[], deviceId = 'dev'): FakeClient {
      const client = new FakeClient('c');
      broker.clientFrame(client, frame('subscribe', { device_id: deviceId, streams }, 's'));
      return client;
    }

    it('refuses with unknown_stream when the device’s hello offers none of the streams', () => {
      const device = online();
      broker.deviceReady(device, { ...hello, capabilities }, 0);
      const client = subscribe(['gpu', 'network.rx.errors']);
      assert.equal(client.refused[0]?.code, ErrorCode.unknownStream);
      assert.equal(client.refused[0]?.request_id, 's');
      assert.match(
        String(client.refused[0]?.message),
        /"gpu".*offers: "apps", "cpu", "network\.rx"/,
      );
      assert.deepEqual(client.sent, []);
      assert.deepEqual(broker.subscriptions.list(), []);
      assert.deepEqual(device.sent, [], 'no demand for streams it does not have');
    });

    it('subscribes what is offered and names the rest as unavailable', () => {
      const device = online();
      broker.deviceReady(device, { ...hello, capabilities }, 0);
      const client = subscribe(['cpu', 'gpu', 'network', 'apps']);
      assert.deepEqual(client.sent, [
        {
          type: 'subscribed',
          request_id: 's',
          payload: { subscription_id: 'sub_1', unavailable: ['gpu'] },
        },
      ]);
      assert.deepEqual(
        [...(broker.subscriptions.list()[0]?.streams ?? [])],
        ['cpu', 'network', 'apps'],
      );
    });

    it('judges by the last hello while the device is offline', () => {
      const device = online();
      broker.deviceReady(device, { ...hello, capabilities }, 0);
      broker.deviceClosed(device, 1006, '');
      assert.equal(subscribe(['gpu']).refused[0]?.code, ErrorCode.unknownStream);
      assert.deepEqual(subscribe(['cpu']).sent[0]?.payload, { subscription_id: 'sub_1' });
    });

    it('subscribes anything for a device not seen since the hub started: it cannot know', () => {
      const client = subscribe(['gpu'], 'idle');
      assert.deepEqual(client.refused, []);
      assert.deepEqual(client.sent[0]?.payload, { subscription_id: 'sub_1' });
    });
  });
});
