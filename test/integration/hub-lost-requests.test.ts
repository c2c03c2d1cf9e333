import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { MAX_SEQ } from '../../src/protocol/fields.js';
import { MAX_OPEN_REQUESTS, helloPayload } from '../../src/protocol/to-hub.js';
import {
  DEVICE_ID,
  FRAME_TS,
  HELLO,
  connectClient,
  openDevice,
  sayHello,
  startHub,
  telemetryFrame,
  type Peer,
} from '../helpers/ws.js';

/**
 * `hello.open_requests` and `hello.seq` at the real hub, over sockets: a command forwarded into
 * a link whose agent is gone is answered `request_lost` once the agent's next link has resent
 * up to `hello.seq`; bad values are refused with `invalid_payload` and the link stays.
 */
const STORE = 'store-lost-req';

async function helloOn(peer: Peer, extra: Record<string, unknown>): Promise<void> {
  await sayHello(peer, { store_id: STORE, ...extra });
}

describe('hub: requests a reconnected device no longer holds', () => {
  it('answers request_lost after the resend, and relays the command a device still holds', async (t) => {
    const hub = await startHub(t, { ackIntervalMs: 10 });
    const first = await openDevice(hub.wsUrl);
    await helloOn(first, { open_requests: [], seq: 0 });
    first.send(telemetryFrame(1));
    await first.inbox.next((f) => f.type === 'ack' && f.payload.seq === 1);
    const client = await connectClient(hub.wsUrl);
    // Two commands reach the first link; its agent will only ever have seen the second.
    client.send({
      type: 'command',
      request_id: 'lost',
      payload: { device_id: DEVICE_ID, command: 'a' },
    });
    await first.inbox.nextOfType('command');
    client.send({
      type: 'command',
      request_id: 'held',
      payload: { device_id: DEVICE_ID, command: 'b' },
    });
    const heldForward = await first.inbox.nextOfType('command');

    // The agent comes back on a new link (the hub has not noticed the first is dead): it holds
    // the second command, and its spool gave out seqs up to 3 that the hub has not processed.
    const second = await openDevice(hub.wsUrl);
    await helloOn(second, { open_requests: [heldForward.request_id], seq: 3 });
    second.send(telemetryFrame(2));
    await second.inbox.next((f) => f.type === 'ack' && f.payload.seq === 2);
    assert.equal(
      client.inbox.unread.filter((f) => f.type === 'error').length,
      0,
      'nothing is lost before the resend is through',
    );
    second.send(telemetryFrame(3));
    const lost = await client.inbox.nextOfType('error');
    assert.equal(lost.request_id, 'lost');
    assert.equal(lost.payload.code, ErrorCode.requestLost);
    const lostDone = await client.inbox.nextOfType('command_done');
    assert.deepEqual(
      lostDone,
      {
        type: 'command_done',
        request_id: 'lost',
        payload: { exit_code: null, error: lost.payload },
      },
      'a client that knows only command_done hears the end too',
    );

    second.send({
      type: 'command_done',
      channel: 'commands',
      ts: FRAME_TS,
      seq: 4,
      request_id: heldForward.request_id,
      payload: { exit_code: 0 },
    });
    const done = await client.inbox.nextOfType('command_done');
    assert.equal(done.request_id, 'held', 'the held command is relayed as before');
    assert.deepEqual(client.inbox.unread, [], 'one request_lost, for the lost one only');
  });

  it('refuses bad open_requests and seq with invalid_payload; the link stays and can say hello', async (t) => {
    const hub = await startHub(t, { ackIntervalMs: 10 });
    const peer = await openDevice(hub.wsUrl);
    const bad: Array<[string, Record<string, unknown>]> = [
      ['open_requests', { open_requests: 'req_1', seq: 1 }],
      ['open_requests[1]', { open_requests: ['req_1', 7], seq: 1 }],
      ['open_requests[0]', { open_requests: [''], seq: 1 }],
      ['open_requests[0]', { open_requests: ['x'.repeat(201)], seq: 1 }],
      ['open_requests', { open_requests: Array(MAX_OPEN_REQUESTS + 1).fill('r'), seq: 1 }],
      ['seq', { open_requests: [], seq: -1 }],
      ['seq', { open_requests: [], seq: 1.5 }],
      ['seq', { open_requests: [], seq: '3' }],
      ['seq', { open_requests: [], seq: MAX_SEQ + 1 }],
    ];
    for (const [field, extra] of bad) {
      peer.send({ type: 'hello', payload: { device_id: DEVICE_ID, ...HELLO, ...extra } });
      const error = await peer.inbox.nextOfType('error');
      assert.equal(error.payload.code, ErrorCode.invalidPayload, field);
      assert.match(
        String(error.payload.message),
        new RegExp(`payload\\.${field.replace(/[[\]]/g, '\\$&')}`),
      );
    }
    await helloOn(peer, { open_requests: ['req_9'], seq: 0 });
  });

  it('takes only what the validator vouches for, whatever hello carries (fuzz)', () => {
    let state = 4242;
    const random = (): number => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
    const values: unknown[] = [
      undefined,
      null,
      0,
      -1,
      1,
      2.5,
      MAX_SEQ,
      MAX_SEQ + 1,
      NaN,
      '',
      'req_1',
      'x'.repeat(201),
      [],
      ['req_1'],
      [''],
      [1],
      [null],
      ['a', 'b'],
      {},
      { 0: 'req' },
      true,
    ];
    for (let i = 0; i < 5_000; i++) {
      const payload: Record<string, unknown> = { device_id: DEVICE_ID, ...HELLO };
      for (const key of ['open_requests', 'seq'] as const) {
        const value = pick(values);
        if (value !== undefined) payload[key] = value;
      }
      const result = helloPayload(payload, 'payload');
      const seqOk =
        payload.seq === undefined ||
        (Number.isInteger(payload.seq) &&
          (payload.seq as number) >= 0 &&
          (payload.seq as number) <= MAX_SEQ);
      const requests = payload.open_requests;
      const requestsOk =
        requests === undefined ||
        (Array.isArray(requests) &&
          requests.every((r) => typeof r === 'string' && r.length >= 1 && r.length <= 200));
      assert.equal(result.ok, seqOk && requestsOk, JSON.stringify(payload));
      if (result.ok) {
        assert.equal(result.value.seq, payload.seq);
        assert.deepEqual(result.value.open_requests, payload.open_requests);
      }
    }
  });
});
