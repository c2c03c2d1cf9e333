import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type WebSocket from 'ws';
import {
  ByteFd,
  ByteKind,
  decodeByteFrame,
  encodeByteFrame,
  type ByteFrame,
} from '../../src/protocol/byte-frame.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { SESSION_WINDOW_BYTES } from '../../src/protocol/sessions.js';
import {
  DEVICE_ID,
  connectClient,
  openDevice,
  sayHello,
  startHub,
  waitFor,
  type Peer,
} from '../helpers/ws.js';
import type { Owner } from '../helpers/owner.js';

/**
 * The hub's part of sessions of every kind (docs/protocol.md, "Sessions"): it forwards the kind
 * with who asked, relays `session_ack` and `input_consumed`, and holds a bulk session's input, its
 * end and its last ack while the device is away, ending the session rather than dropping bytes.
 */

/** A device that speaks binary frames, and the frames it receives. */
async function byteDevice(wsUrl: string): Promise<Peer & { frames: ByteFrame[] }> {
  const peer = await openDevice(wsUrl);
  const frames: ByteFrame[] = [];
  peer.ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
    if (!isBinary) return;
    const decoded = decodeByteFrame(data as Buffer);
    if (decoded.ok) frames.push(decoded.frame);
  });
  await sayHello(peer, { capabilities: ['bytes', 'files'] });
  return Object.assign(peer, { frames });
}

async function setUp(t: Owner) {
  const hub = await startHub(t, { requestGraceMs: 10_000 });
  const device = await byteDevice(hub.wsUrl);
  const client = await connectClient(hub.wsUrl);
  t.after(() => {
    client.ws.terminate();
    device.ws.terminate();
  });
  return { hub, device, client };
}

function input(stream: number, data: Uint8Array | null): Uint8Array {
  return encodeByteFrame({
    kind: data === null ? ByteKind.eof : ByteKind.data,
    stream,
    fd: ByteFd.stdin,
    seq: 0,
    data: data ?? new Uint8Array(0),
  });
}

/** A client's upload (stream 3) forwarded to the device, whose link then drops. */
async function uploadWithDeviceAway(t: Owner) {
  const { hub, device, client } = await setUp(t);
  client.send({
    type: 'session_open',
    request_id: 'up',
    payload: { device_id: DEVICE_ID, kind: 'file_put', stream: 3 },
  });
  const open = await device.inbox.nextOfType('session_open');
  device.ws.terminate();
  await waitFor(() => hub.hub.devices().every((d) => !d.connected));
  return { hub, client, open };
}

describe('hub: sessions of every kind', () => {
  it('asks rows and cols of a shell only, and says who asked whatever the client claims', async (t) => {
    const { device, client } = await setUp(t);
    client.send({ type: 'session_open', request_id: 's', payload: { device_id: DEVICE_ID } });
    const refused = await client.inbox.nextOfType('error');
    assert.equal(refused.payload.code, ErrorCode.invalidPayload);
    assert.match(String(refused.payload.message), /rows and cols are required for a shell/);

    client.send({
      type: 'session_open',
      request_id: 'f',
      payload: { device_id: DEVICE_ID, kind: 'file_get', path: '/tmp/x', requested_by: 'root' },
    });
    const open = await device.inbox.nextOfType('session_open');
    assert.equal(open.payload.kind, 'file_get');
    assert.equal(open.payload.path, '/tmp/x');
    assert.match(String(open.payload.requested_by), /^client \S+ from \S+$/);

    client.send({
      type: 'session_open',
      request_id: 'k',
      payload: { device_id: DEVICE_ID, kind: 'telnet' },
    });
    assert.equal((await client.inbox.nextOfType('error')).payload.code, ErrorCode.invalidPayload);
  });

  it('relays session_ack to the device and input_consumed to the client', async (t) => {
    const { device, client } = await setUp(t);
    client.send({
      type: 'session_open',
      request_id: 'up',
      payload: { device_id: DEVICE_ID, kind: 'file_put', stream: 7 },
    });
    const open = await device.inbox.nextOfType('session_open');
    client.send({ type: 'session_ack', request_id: 'up', payload: { bytes: 4096 } });
    const ack = await device.inbox.nextOfType('session_ack');
    assert.equal(ack.request_id, open.request_id);
    assert.equal(ack.payload.bytes, 4096);

    client.ws.send(input(7, Buffer.from('hello')));
    await waitFor(() => device.frames.length === 1);
    assert.equal(device.frames[0]?.stream, open.payload.stream);
    device.send({
      type: 'input_consumed',
      request_id: open.request_id,
      channel: 'commands',
      seq: 1,
      payload: { bytes: 5 },
    });
    const consumed = await client.inbox.nextOfType('input_consumed');
    assert.equal(consumed.request_id, 'up');
    assert.equal(consumed.payload.bytes, 5);
  });

  it('holds input, its end and the last ack while the device is away', async (t) => {
    const { hub, client, open } = await uploadWithDeviceAway(t);
    const piece = Buffer.alloc(300 * 1024, 1);
    client.ws.send(input(3, piece));
    client.ws.send(input(3, null));
    client.send({ type: 'session_ack', request_id: 'up', payload: { bytes: 10 } });
    client.send({ type: 'session_ack', request_id: 'up', payload: { bytes: 99 } });

    const back = await byteDevice(hub.wsUrl);
    t.after(() => back.ws.terminate());
    await waitFor(() => back.frames.length === 2);
    assert.equal(back.frames[0]?.data.length, piece.length);
    assert.equal(back.frames[1]?.kind, ByteKind.eof);
    const ack = await back.inbox.nextOfType('session_ack');
    assert.deepEqual([ack.request_id, ack.payload.bytes], [open.request_id, 99]);
  });

  it('ends a bulk session whose input outgrows its window while the device is away', async (t) => {
    const { hub, client, open } = await uploadWithDeviceAway(t);
    const piece = Buffer.alloc(512 * 1024, 2);
    for (let sent = 0; sent <= SESSION_WINDOW_BYTES; sent += piece.length)
      client.ws.send(input(3, piece));
    const error = await client.inbox.nextOfType('error');
    assert.equal(error.payload.code, ErrorCode.dataLost);
    const done = await client.inbox.nextOfType('session_done');
    assert.equal(done.request_id, 'up');

    // Back, the device is told to close what no client waits for.
    const back = await byteDevice(hub.wsUrl);
    t.after(() => back.ws.terminate());
    const close = await back.inbox.nextOfType('session_close');
    assert.equal(close.request_id, open.request_id);
  });
});
