import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { Broker } from '../../src/hub/broker.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import type { HelloPayload } from '../../src/protocol/to-hub.js';
import { FakeClient, FakeDevice, frame, testBroker } from '../helpers/fake-links.js';

const hello = (extra: Partial<HelloPayload> = {}): HelloPayload => ({
  device_id: 'dev',
  agent_version: '1',
  protocol: 1,
  capabilities: [],
  ...extra,
});

const errorsTo = (client: FakeClient) =>
  client.sent.filter((m) => m.type === 'error').map((m) => [m.request_id, m.payload.code]);

/**
 * A request forwarded into a half-open link, at the broker: the device's next hello says which
 * requests it holds (`open_requests`) and where its resend ends (`seq`); a rebound request it
 * does not hold is failed with `request_lost` once the hub has processed that far.
 */
describe('Broker: requests lost with a half-open link', () => {
  let broker: Broker;
  let first: FakeDevice;
  let client: FakeClient;

  beforeEach(() => {
    broker = testBroker({ requestGraceMs: 30_000 });
    first = new FakeDevice();
    broker.deviceAttached(first);
    broker.deviceReady(first, hello({ open_requests: [], seq: 0 }), 0);
    client = new FakeClient('c');
    // Forwarded as req_1 into a link whose agent side is already gone.
    broker.clientFrame(client, frame('command', { device_id: 'dev', command: 'cat' }, 'cmd'));
  });

  /** The agent reconnects on a new link; the old one is found dead afterwards. */
  function reconnect(
    claim: Partial<HelloPayload>,
    processedSeq: number,
    device = new FakeDevice(),
  ): FakeDevice {
    broker.deviceAttached(device);
    broker.deviceReady(device, hello(claim), processedSeq);
    broker.deviceClosed(first, 1006, '');
    return device;
  }

  it('fails a rebound request the agent does not hold once the resend passes hello.seq', () => {
    const second = reconnect({ open_requests: [], seq: 12 }, 10);
    broker.deviceProcessed(second, 11);
    assert.deepEqual(errorsTo(client), [], 'the resend is not through yet');
    assert.equal(broker.requests.size, 1);
    broker.deviceProcessed(second, 12);
    assert.deepEqual(errorsTo(client), [['cmd', ErrorCode.requestLost]]);
    const [error, done] = client.sent.slice(-2);
    assert.match(String(error?.payload.message), /lost the request with its link/);
    assert.deepEqual(done, {
      type: 'command_done',
      request_id: 'cmd',
      payload: { exit_code: null, error: error?.payload },
    });
    assert.equal(broker.requests.size, 0);
    assert.equal(broker.lostRequests.pendingLinks, 0);
    broker.deviceProcessed(second, 13);
    assert.equal(errorsTo(client).length, 1, 'reported once');
  });

  it('fails it at once when the hub had already processed up to hello.seq', () => {
    reconnect({ open_requests: [], seq: 7 }, 7);
    assert.deepEqual(errorsTo(client), [['cmd', ErrorCode.requestLost]]);
    assert.equal(broker.requests.size, 0);
  });

  it('passes a seq past hello.seq too (the agent dropped what lay between)', () => {
    const second = reconnect({ open_requests: [], seq: 12 }, 3);
    broker.deviceProcessed(second, 20);
    assert.deepEqual(errorsTo(client), [['cmd', ErrorCode.requestLost]]);
  });

  it('keeps a request listed in open_requests, and relays its replies on the new link', () => {
    const second = reconnect({ open_requests: ['req_1', 'req_other'], seq: 5 }, 5);
    broker.deviceProcessed(second, 6);
    assert.deepEqual(errorsTo(client), []);
    broker.deviceFrame(second, frame('command_done', { exit_code: 0 }, 'req_1'));
    assert.deepEqual(
      client.sent.map((m) => [m.type, m.request_id]),
      [['command_done', 'cmd']],
    );
    assert.equal(broker.requests.size, 0);
  });

  it('closes a request normally when its command_done comes in the resend: no error', () => {
    const second = reconnect({ open_requests: [], seq: 9 }, 4);
    broker.deviceFrame(second, frame('command_output', { chunk: 'x', fd: 'stdout' }, 'req_1'));
    broker.deviceProcessed(second, 5);
    broker.deviceFrame(second, frame('command_done', { exit_code: 0 }, 'req_1'));
    broker.deviceProcessed(second, 6);
    broker.deviceProcessed(second, 9);
    assert.deepEqual(
      client.sent.map((m) => m.type),
      ['command_output', 'command_done'],
    );
    assert.equal(broker.requests.size, 0);
    assert.equal(broker.lostRequests.pendingLinks, 0);
  });

  it('keeps every request for a hello without open_requests and seq (an older agent)', () => {
    const second = reconnect({}, 0);
    for (let seq = 1; seq < 5; seq++) broker.deviceProcessed(second, seq);
    assert.deepEqual(errorsTo(client), []);
    assert.equal(broker.requests.size, 1);
    assert.equal(broker.lostRequests.pendingLinks, 0);
    // Only one of the two fields is no claim either.
    reconnect({ seq: 3 }, 3);
    assert.equal(broker.requests.size, 1);
  });

  it('never touches a request forwarded on the new link', () => {
    const second = reconnect({ open_requests: [], seq: 4 }, 0);
    broker.clientFrame(client, frame('command', { device_id: 'dev', command: 'ls' }, 'new'));
    broker.deviceProcessed(second, 4);
    assert.deepEqual(errorsTo(client), [['cmd', ErrorCode.requestLost]]);
    assert.equal(broker.requests.get('req_2')?.device, second, 'the new request stays open');
  });

  it('fails a lost app_command the same way', () => {
    const appClient = new FakeClient('a');
    broker.clientFrame(
      appClient,
      frame('app_command', { device_id: 'dev', command: { stop: {} } }, 'ac'),
    );
    reconnect({ open_requests: ['req_1'], seq: 2 }, 2);
    assert.deepEqual(errorsTo(appClient), [['ac', ErrorCode.requestLost]]);
    assert.deepEqual(errorsTo(client), []);
  });

  it('ends the bookkeeping with the link: the next hello judges the request again', () => {
    const second = reconnect({ open_requests: [], seq: 50 }, 0);
    assert.equal(broker.lostRequests.pendingLinks, 1);
    broker.deviceClosed(second, 1006, '');
    assert.equal(broker.lostRequests.pendingLinks, 0);
    // The third link's agent does hold it (it got it after all): kept.
    const third = new FakeDevice();
    broker.deviceAttached(third);
    broker.deviceReady(third, hello({ open_requests: ['req_1'], seq: 60 }), 0);
    broker.deviceProcessed(third, 60);
    assert.deepEqual(errorsTo(client), []);
    assert.equal(broker.requests.get('req_1')?.unconfirmed, false);
    assert.equal(broker.lostRequests.pendingLinks, 0);
  });

  it('a repeated hello on the same link replaces the wait with its own seq', () => {
    const second = reconnect({ open_requests: [], seq: 50 }, 0);
    broker.deviceReady(second, hello({ open_requests: [], seq: 80 }), 0);
    broker.deviceProcessed(second, 50);
    assert.deepEqual(errorsTo(client), []);
    broker.deviceProcessed(second, 80);
    assert.deepEqual(errorsTo(client), [['cmd', ErrorCode.requestLost]]);
  });

  it('sends nothing when the client left meanwhile, and forgets the wait', () => {
    const second = reconnect({ open_requests: [], seq: 5 }, 0);
    broker.clientClosed(client, 1000, '');
    const sentBefore = client.sent.length;
    broker.deviceProcessed(second, 5);
    assert.equal(client.sent.length, sentBefore);
    assert.equal(broker.requests.size, 0);
    assert.equal(broker.lostRequests.pendingLinks, 0);
  });
});
