import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEVICE_ID,
  FRAME_TS,
  connectClient,
  openDevice,
  sayHello,
  startHub,
  telemetryFrame,
  type Frame,
  type Peer,
} from '../helpers/ws.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * Acknowledged delivery at the hub: `welcome.last_seq`, cumulative acks, each seq processed and
 * relayed once (with its seq), a new store identity starting over, cursors kept in --state-dir.
 */
async function helloFrom(wsUrl: string, storeId: string): Promise<{ peer: Peer; welcome: Frame }> {
  const peer = await openDevice(wsUrl);
  return { peer, welcome: await sayHello(peer, { store_id: storeId }) };
}

async function subscribe(wsUrl: string): Promise<Peer> {
  const client = await connectClient(wsUrl);
  client.send({
    type: 'subscribe',
    request_id: 's',
    payload: { device_id: DEVICE_ID, streams: ['cpu'] },
  });
  await client.inbox.nextOfType('subscribed');
  return client;
}

describe('hub acknowledged delivery', () => {
  it('relays each seq once with its seq, acks cumulatively, and resumes from last_seq', async (t) => {
    const hub = await startHub(t, { ackIntervalMs: 50 });
    const client = await subscribe(hub.wsUrl);
    const { peer, welcome } = await helloFrom(hub.wsUrl, 'store-aaaaaaaa');
    assert.equal(welcome.payload.last_seq, 0);
    for (const seq of [1, 2, 2, 3, 1, 4]) peer.send(telemetryFrame(seq));
    const relayed: number[] = [];
    for (let i = 0; i < 4; i++)
      relayed.push((await client.inbox.nextOfType('telemetry')).seq as number);
    assert.deepEqual(relayed, [1, 2, 3, 4]);
    const ack = await peer.inbox.next((f) => f.type === 'ack' && f.payload.seq === 4);
    assert.equal(ack.payload.seq, 4);
    peer.ws.close();
    await peer.closed;

    const again = await helloFrom(hub.wsUrl, 'store-aaaaaaaa');
    assert.equal(again.welcome.payload.last_seq, 4, 'same store: resume after 4');
    again.peer.send(telemetryFrame(4)); // a resend whose ack was lost: acknowledged, not relayed
    again.peer.send(telemetryFrame(5));
    assert.equal((await client.inbox.nextOfType('telemetry')).seq, 5);
    await again.peer.inbox.next((f) => f.type === 'ack' && f.payload.seq === 5);
    assert.equal(client.inbox.unread.length, 0, 'no duplicate relayed');
    again.peer.ws.close();
    await again.peer.closed;

    const wiped = await helloFrom(hub.wsUrl, 'store-bbbbbbbb');
    assert.equal(wiped.welcome.payload.last_seq, 0, 'a new store starts over');
    wiped.peer.send(telemetryFrame(1, 99));
    const fresh = await client.inbox.nextOfType('telemetry');
    assert.deepEqual([fresh.seq, fresh.payload.value], [1, 99]);
  });

  it('acks a refused frame (it never blocks the queue) and refuses a malformed seq', async (t) => {
    const hub = await startHub(t, { ackIntervalMs: 50 });
    const { peer } = await helloFrom(hub.wsUrl, 'store-cccccccc');
    peer.send({
      type: 'telemetry',
      channel: 'telemetry',
      ts: FRAME_TS,
      seq: 1,
      payload: { stream: 'cpu' },
    });
    const error = await peer.inbox.nextOfType('error');
    assert.equal(error.payload.code, 'invalid_payload');
    await peer.inbox.next((f) => f.type === 'ack' && f.payload.seq === 1);
    peer.send({ ...telemetryFrame(2), seq: 'two' });
    const bad = await peer.inbox.nextOfType('error');
    assert.match(String(bad.payload.message), /seq/);
    assert.equal(hub.hub.lastSeq(DEVICE_ID), 1);
  });

  it('with --state-dir keeps the cursors across a restart of the hub', async (t) => {
    const stateDir = tempDir('hub-state-', t); // the hubs only hold a file open in it
    const first = await startHub(t, { stateDir });
    const { peer } = await helloFrom(first.wsUrl, 'store-dddddddd');
    for (let seq = 1; seq <= 3; seq++) peer.send(telemetryFrame(seq));
    await peer.inbox.next((f) => f.type === 'ack' && f.payload.seq === 3);
    await first.stop(); // the subject: the cursors outlive this hub

    const second = await startHub(t, { stateDir });
    const { welcome } = await helloFrom(second.wsUrl, 'store-dddddddd');
    assert.equal(welcome.payload.last_seq, 3);
  });
});
