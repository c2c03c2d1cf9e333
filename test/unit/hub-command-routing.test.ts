import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { Broker } from '../../src/hub/broker.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import type { HelloPayload } from '../../src/protocol/to-hub.js';
import { FakeClient, FakeDevice, frame, testBroker } from '../helpers/fake-links.js';

/** `command_cancel`, `command_input` and a client that leaves mid-command, at the broker. */
describe('Broker command routing', () => {
  let broker: Broker;
  let device: FakeDevice;
  let client: FakeClient;

  beforeEach(() => {
    broker = testBroker();
    device = new FakeDevice();
    broker.deviceAttached(device);
    broker.deviceReady(
      device,
      { device_id: 'dev', agent_version: '1', protocol: 1, capabilities: [] } as HelloPayload,
      0,
    );
    client = new FakeClient('c');
    broker.clientFrame(client, frame('command', { device_id: 'dev', command: 'cat' }, 'cmd'));
  });

  it('forwards command_cancel on the command, named by payload or envelope request_id', () => {
    broker.clientFrame(client, frame('command_cancel', { request_id: 'cmd' }, 'c-1'));
    broker.clientFrame(client, frame('command_cancel', {}, 'cmd'));
    assert.deepEqual(device.sent.slice(1), [
      { type: 'command_cancel', request_id: 'req_1', payload: { request_id: 'req_1' } },
      { type: 'command_cancel', request_id: 'req_1', payload: { request_id: 'req_1' } },
    ]);
  });

  it('forwards command_input with its data under the hub request id', () => {
    broker.clientFrame(
      client,
      frame('command_input', { request_id: 'cmd', data: 'hi\n', eof: true }),
    );
    assert.deepEqual(device.sent[1], {
      type: 'command_input',
      request_id: 'req_1',
      payload: { request_id: 'req_1', data: 'hi\n', eof: true },
    });
  });

  it('refuses follow-ups for no running command of this client with unknown_request', () => {
    const other = new FakeClient('other');
    broker.clientFrame(other, frame('command_cancel', { request_id: 'cmd' }, 'x'));
    broker.clientFrame(client, frame('command_input', { data: 'x' }));
    broker.deviceFrame(device, frame('command_done', { exit_code: 0 }, 'req_1'));
    broker.clientFrame(client, frame('command_cancel', { request_id: 'cmd' }));
    assert.deepEqual(
      [...other.refused, ...client.refused].map((e) => e.code),
      [ErrorCode.unknownRequest, ErrorCode.unknownRequest, ErrorCode.unknownRequest],
    );
    assert.equal(other.refused[0]?.request_id, 'x');
    assert.equal(device.sent.length, 1);
  });

  it('cancels the command on the device when its client disconnects', () => {
    broker.clientClosed(client, 1006, '');
    assert.deepEqual(device.sent[1], {
      type: 'command_cancel',
      request_id: 'req_1',
      payload: { request_id: 'req_1' },
    });
    assert.equal(broker.requests.size, 0);
  });

  it('refuses a second command under a pending request_id with duplicate_request', () => {
    broker.clientFrame(client, frame('command', { device_id: 'dev', command: 'ls' }, 'cmd'));
    assert.equal(client.refused[0]?.code, ErrorCode.duplicateRequest);
  });

  it('closes the request when forwarding throws, so the request_id is free again', () => {
    const failing = new FakeDevice('dev');
    failing.send = () => {
      throw new RangeError('Maximum call stack size exceeded');
    };
    broker.deviceAttached(failing);
    broker.deviceReady(
      failing,
      { device_id: 'dev', agent_version: '1', protocol: 1, capabilities: [] } as HelloPayload,
      0,
    );
    const openBefore = broker.requests.size;
    assert.throws(
      () => broker.clientFrame(client, frame('command', { device_id: 'dev' }, 'again')),
      RangeError,
    );
    assert.equal(broker.requests.size, openBefore, 'no request left open');
    failing.send = (message) => {
      failing.sent.push(message);
      return true;
    };
    broker.clientFrame(client, frame('command', { device_id: 'dev' }, 'again'));
    assert.deepEqual(client.refused, []);
    assert.equal(failing.sent.at(-1)?.type, 'command');
  });
});
