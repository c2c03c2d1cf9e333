import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HelloPayload } from '../../src/protocol/to-hub.js';
import { FakeClient, FakeDevice, frame, testBroker } from '../helpers/fake-links.js';

const hello = (openRequests: string[]): HelloPayload => ({
  device_id: 'dev',
  agent_version: '1',
  protocol: 1,
  capabilities: [],
  open_requests: openRequests,
  seq: 0,
});

const closed = (device: FakeDevice): (string | undefined)[] =>
  device.sent.filter((m) => m.type === 'session_close').map((m) => m.request_id);

/**
 * A hub restarted while a device ran a shell session for a client of its earlier process: the
 * device's hello lists the session, the new hub knows nothing of it, and nobody will read it.
 */
describe('Broker: requests of an earlier hub process', () => {
  it('sends session_close for each request a hello lists that the hub does not know, none for its own', () => {
    const broker = testBroker({ requestGraceMs: 30_000 });
    const first = new FakeDevice();
    broker.deviceAttached(first);
    broker.deviceReady(first, hello([]), 0);
    const client = new FakeClient('c');
    broker.clientFrame(client, frame('command', { device_id: 'dev', command: 'cat' }, 'cmd'));
    const own = first.sent.find((m) => m.type === 'command')?.request_id as string;

    const second = new FakeDevice();
    broker.deviceAttached(second);
    broker.deviceReady(second, hello([own, 'req_of_the_hub_before']), 0);
    broker.deviceClosed(first, 1006, '');
    assert.deepEqual(closed(second), ['req_of_the_hub_before']);
  });

  it('closes none on a hub of an MQTT fleet, where another hub may hold the request', () => {
    const broker = testBroker({ ownsEveryRequest: false });
    const device = new FakeDevice();
    broker.deviceAttached(device);
    broker.deviceReady(device, hello(['hub-other.req_1']), 0);
    assert.deepEqual(closed(device), []);
  });
});
