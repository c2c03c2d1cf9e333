import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Hub } from '../../src/hub/hub.js';
import { type PeerStats } from '../../src/hub/peer-socket.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import {
  DEVICE_ID,
  connectClient,
  connectDevice,
  startHub,
  telemetryFrame,
  waitFor,
  type Frame,
  type Peer,
} from '../helpers/ws.js';
import { CloseCode } from '../../src/protocol/close-codes.js';
import type { Owner } from '../helpers/owner.js';

/**
 * The hub's memory bounds (issue 13, finding 3): every peer's send queue is bounded in bytes,
 * whatever the peer does. The peers here stop reading with ws's `pause()` (their TCP socket
 * stops reading, the kernel buffers fill, and what the hub still sends piles up in its own
 * process). Assertions are on the byte counts the hub reports (`peerStats()`), never on time.
 */
const HIGH_WATER = 256 * 1024;
const QUEUE_LIMIT = 4 * 1024 * 1024;

/** The newest open peer of this kind. */
function statsOf(hub: Hub, kind: PeerStats['kind']): PeerStats | undefined {
  return hub
    .peerStats()
    .filter((s) => s.kind === kind)
    .at(-1);
}

async function subscribe(client: Peer, requestId: string): Promise<void> {
  client.send({
    type: 'subscribe',
    request_id: requestId,
    payload: { device_id: DEVICE_ID, streams: ['cpu'] },
  });
  const reply = await client.inbox.next((f) => f.request_id === requestId);
  assert.equal(reply.type, 'subscribed', JSON.stringify(reply));
}

/** Sends a command from the client; resolves with the hub's request_id the device got. */
async function startCommand(client: Peer, device: Peer, requestId: string): Promise<string> {
  client.send({
    type: 'command',
    request_id: requestId,
    payload: { device_id: DEVICE_ID, command: 'flood' },
  });
  const forwarded = await device.inbox.nextOfType('command');
  return String(forwarded.request_id);
}

/** A command_output frame whose chunk says which one it is, padded to `bytes`. */
function outputFrame(routeId: string, index: number, bytes: number): Record<string, unknown> {
  const chunk = `${String(index).padStart(8, '0')}:`.padEnd(bytes, 'x');
  return { type: 'command_output', request_id: routeId, payload: { chunk, fd: 'stdout' } };
}

/** Collects a command's frames up to its command_done. */
async function commandFrames(client: Peer, requestId: string): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (;;) {
    const frame = await client.inbox.next((f) => f.request_id === requestId, 10_000);
    frames.push(frame);
    if (frame.type === 'command_done' || frame.type === 'error') return frames;
  }
}

interface BoundedHub {
  hub: Hub;
  device(): Promise<Peer>;
  client(): Promise<Peer>;
}

/**
 * A hub with small bounds; a long close timeout, so a client that reads late still sees 4008.
 * The peers connected through it are terminated when the test ends, before the hub's own stop
 * runs (hooks run in the order they were registered): a peer that stopped reading would hold
 * that stop for the whole close timeout.
 */
async function startBoundedHub(t: Owner, maxPushBackMs: number): Promise<BoundedHub> {
  const peers: Peer[] = [];
  t.after(() => {
    for (const peer of peers) {
      peer.ws.resume();
      peer.ws.terminate();
    }
  });
  const { hub, wsUrl } = await startHub(t, {
    peerHighWaterBytes: HIGH_WATER,
    peerQueueLimitBytes: QUEUE_LIMIT,
    ackIntervalMs: 5,
    closeTimeoutMs: 20_000,
    maxPushBackMs,
  });
  const tracked = async (connecting: Promise<Peer>): Promise<Peer> => {
    const peer = await connecting;
    peers.push(peer);
    return peer;
  };
  return {
    hub,
    device: () => tracked(connectDevice(wsUrl)),
    client: () => tracked(connectClient(wsUrl)),
  };
}

describe('hub memory bounds', () => {
  it('drops telemetry for a stream client that does not read, and tells it how many once it reads', async (t) => {
    const bounded = await startBoundedHub(t, 60_000);
    const device = await bounded.device();
    const client = await bounded.client();
    // Fifty subscriptions to the same stream: each device frame is fifty frames to the client.
    for (let i = 0; i < 50; i++) await subscribe(client, `sub-${i}`);
    client.ws.pause();
    let seq = 0;
    let maxQueued = 0;
    // About 200 bytes × 50 per device frame: 4,000 frames are 40 MB, far past what the kernel
    // buffers of a loopback socket hold.
    while (seq < 4_000 && (statsOf(bounded.hub, 'client')?.dropped ?? 0) === 0) {
      for (let i = 0; i < 200; i++) device.send(telemetryFrame(++seq));
      const last = seq;
      await device.inbox.next((f) => f.type === 'ack' && Number(f.payload.seq) >= last, 10_000);
      maxQueued = Math.max(maxQueued, statsOf(bounded.hub, 'client')?.queuedBytes ?? 0);
    }
    const dropped = statsOf(bounded.hub, 'client')?.dropped ?? 0;
    assert.ok(dropped > 0, `no telemetry dropped after ${seq} device frames`);
    assert.ok(maxQueued <= HIGH_WATER + 64 * 1024, `client queue reached ${maxQueued} bytes`);

    client.ws.resume();
    const notice = await client.inbox.next(
      (f) => f.type === 'error' && f.payload.code === ErrorCode.framesDropped,
      10_000,
    );
    assert.equal(notice.payload.dropped, dropped);
    assert.equal(notice.request_id, undefined);
  });

  it('closes a stream client that sends requests and never reads their answers (4008)', async (t) => {
    const bounded = await startBoundedHub(t, 60_000);
    const client = await bounded.client();
    client.ws.pause();
    // Each refusal is ~400 bytes; 100,000 of them would be 40 MB.
    const id = 'x'.repeat(100);
    let sent = 0;
    while (sent < 100_000 && statsOf(bounded.hub, 'client') !== undefined) {
      for (let i = 0; i < 1_000; i++) {
        client.send({
          type: 'unsubscribe',
          request_id: `${id}-${++sent}`,
          payload: { subscription_id: id },
        });
      }
      await waitFor(() => client.ws.bufferedAmount === 0, 10_000);
      const queued = statsOf(bounded.hub, 'client')?.queuedBytes ?? 0;
      assert.ok(queued <= QUEUE_LIMIT + 1024, `client queue reached ${queued} bytes`);
      if (statsOf(bounded.hub, 'client')?.closing) break;
    }
    assert.ok(statsOf(bounded.hub, 'client')?.closing ?? true, `still open after ${sent} requests`);
    client.ws.resume();
    const { code } = await client.closed;
    assert.equal(code, CloseCode.slowConsumer);
  });

  it('pushes back on the device while a client waiting on its output does not read, and loses nothing', async (t) => {
    const bounded = await startBoundedHub(t, 60_000);
    const device = await bounded.device();
    const client = await bounded.client();
    const routeId = await startCommand(client, device, 'flood-1');
    client.ws.pause();
    const frames = 600;
    const bytes = 32 * 1024; // 600 × 32 KiB ≈ 19 MiB of output
    for (let i = 0; i < frames; i++) device.send(outputFrame(routeId, i, bytes));
    device.send({
      type: 'command_done',
      request_id: routeId,
      payload: { exit_code: 0, signal: null },
    });
    await waitFor(() => statsOf(bounded.hub, 'device')?.readingPaused === true, 10_000);
    const queued = statsOf(bounded.hub, 'client')?.queuedBytes ?? 0;
    assert.ok(queued <= HIGH_WATER + 2 * 1024 * 1024, `client queue reached ${queued} bytes`);

    client.ws.resume();
    const received = await commandFrames(client, 'flood-1');
    const done = received.pop();
    assert.equal(done?.type, 'command_done');
    assert.equal(received.length, frames);
    received.forEach((f, i) =>
      assert.equal(String(f.payload.chunk).slice(0, 9), `${String(i).padStart(8, '0')}:`),
    );
    await waitFor(() => statsOf(bounded.hub, 'device')?.readingPaused === false);
  });

  it('refuses app_commands to a device that does not read (device_busy) instead of buffering them', async (t) => {
    const bounded = await startBoundedHub(t, 60_000);
    const device = await bounded.device();
    const client = await bounded.client();
    device.ws.pause();
    const big = 'y'.repeat(900 * 1024);
    let busy: Frame | undefined;
    let maxQueued = 0;
    for (let i = 0; i < 60 && !busy; i++) {
      const requestId = `app-${i}`;
      const pending = bounded.hub.pendingRequests();
      client.send({
        type: 'app_command',
        request_id: requestId,
        payload: { device_id: DEVICE_ID, command: { blob: { data: big } } },
      });
      await waitFor(
        () =>
          bounded.hub.pendingRequests() > pending ||
          client.inbox.unread.some((f) => f.request_id === requestId),
        10_000,
      );
      busy = client.inbox.unread.find((f) => f.request_id === requestId);
      maxQueued = Math.max(maxQueued, statsOf(bounded.hub, 'device')?.queuedBytes ?? 0);
    }
    assert.ok(busy, 'every app_command was buffered for the device');
    assert.equal(busy.type, 'error');
    assert.equal(busy.payload.code, ErrorCode.deviceBusy);
    assert.ok(maxQueued <= HIGH_WATER + 1024 * 1024, `device queue reached ${maxQueued} bytes`);
  });

  it('caps the subscriptions of one client: 10,000 attempts, the rest refused', async (t) => {
    const bounded = await startBoundedHub(t, 60_000);
    await bounded.device(); // the device the subscriptions name
    const client = await bounded.client();
    for (let i = 0; i < 10_000; i++) {
      client.send({
        type: 'subscribe',
        request_id: `s-${i}`,
        payload: { device_id: DEVICE_ID, streams: ['cpu'] },
      });
    }
    const replies = await Promise.all(
      Array.from({ length: 10_000 }, (_, i) =>
        client.inbox.next((f) => f.request_id === `s-${i}`, 30_000),
      ),
    );
    const subscribed = replies.filter((f) => f.type === 'subscribed').length;
    const refused = replies.filter((f) => f.payload.code === ErrorCode.tooManySubscriptions);
    assert.equal(subscribed, 100);
    assert.equal(refused.length, 9_900);
    assert.equal(bounded.hub.subscriptions().length, 100);
  });
});

describe('hub memory bounds: a client that holds a device too long', () => {
  it('closes the client with 4008 and resumes the device', async (t) => {
    const bounded = await startBoundedHub(t, 200);
    const device = await bounded.device();
    const client = await bounded.client();
    const routeId = await startCommand(client, device, 'hold-1');
    client.ws.pause();
    for (let i = 0; i < 600; i++) device.send(outputFrame(routeId, i, 32 * 1024));
    await waitFor(() => statsOf(bounded.hub, 'client')?.closing === true, 10_000);
    await waitFor(() => statsOf(bounded.hub, 'device')?.readingPaused === false, 10_000);
    client.ws.resume();
    assert.equal((await client.closed).code, CloseCode.slowConsumer);
    // The device hears that its command's client left.
    const cancel = await device.inbox.nextOfType('command_cancel', 10_000);
    assert.equal(cancel.request_id, routeId);
  });
});
