import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type WebSocket from 'ws';
import { PeerSocket } from '../../src/hub/peer-socket.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { CloseCode } from '../../src/protocol/close-codes.js';

/**
 * PeerSocket's send bounds and paused reading, on a socket that only records: what is queued
 * is `bufferedAmount`, and a write completes when the test says so.
 */
class RecordingSocket extends EventEmitter {
  readyState = 1; // OPEN
  bufferedAmount = 0;
  paused = false;
  pings = 0;
  terminated = false;
  closedWith: [number, string] | null = null;
  readonly pending: { bytes: number; done?: () => void }[] = [];

  /** ws's signature: options (text or binary) may come before the callback. */
  send(
    data: string | Uint8Array,
    options?: { binary?: boolean } | (() => void),
    callback?: () => void,
  ): void {
    const done = typeof options === 'function' ? options : callback;
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.bufferedAmount += bytes;
    this.pending.push({ bytes, ...(done ? { done } : {}) });
  }

  /** The kernel took every queued frame. */
  flush(): void {
    for (const write of this.pending.splice(0)) {
      this.bufferedAmount -= write.bytes;
      write.done?.();
    }
  }

  ping(): void {
    this.pings++;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  terminate(): void {
    this.terminated = true;
  }

  close(code: number, reason: string): void {
    this.closedWith = [code, reason];
  }
}

/** A PeerSocket on `socket`, started unless `started` is false. */
function peerOn(socket: RecordingSocket, clock = new FakeClock(), started = true): PeerSocket {
  const peer = new PeerSocket({
    socket: socket as unknown as WebSocket,
    clock,
    logger: pino({ level: 'silent' }),
    pingIntervalMs: 1_000,
    pongTimeoutMs: 500,
    closeTimeoutMs: 1_000,
    highWaterBytes: 1_000,
    queueLimitBytes: 5_000,
    onText: () => {},
    onBinary: () => {},
    onActivity: () => {},
    onClose: () => {},
  });
  if (started) peer.start();
  return peer;
}

const frameOf = (bytes: number) => ({ type: 'user', payload: { data: 'x'.repeat(bytes) } });

describe('PeerSocket send bounds', () => {
  it('is backed up from its high-water mark and says when it has drained', () => {
    const socket = new RecordingSocket();
    const peer = peerOn(socket);
    let drains = 0;
    peer.onDrain(() => drains++);
    peer.send(frameOf(600));
    assert.equal(peer.backedUp, false);
    peer.send(frameOf(600));
    assert.equal(peer.backedUp, true);
    assert.equal(peer.queuedBytes, socket.bufferedAmount);
    socket.flush();
    assert.equal(peer.backedUp, false);
    assert.equal(drains, 1);
  });

  it('closes the peer with 4008 rather than queue past the limit', () => {
    const socket = new RecordingSocket();
    const peer = peerOn(socket);
    for (let i = 0; i < 4; i++) assert.equal(peer.send(frameOf(1_000)), true);
    assert.equal(peer.send(frameOf(1_000)), false);
    assert.deepEqual(socket.closedWith, [CloseCode.slowConsumer, 'slow consumer']);
    assert.ok(socket.bufferedAmount <= 5_000);
    assert.equal(peer.send(frameOf(10)), false);
  });

  it('keeps pinging a peer it does not read, without taking the unread pong for death', () => {
    const socket = new RecordingSocket();
    const clock = new FakeClock();
    const peer = peerOn(socket, clock);
    peer.pauseReading();
    assert.equal(socket.paused, true);
    for (let i = 0; i < 5; i++) clock.advance(1_000);
    assert.ok(socket.pings >= 4, `${socket.pings} pings`);
    assert.equal(socket.terminated, false);
    peer.resumeReading();
    assert.equal(socket.paused, false);
    // Read again, a peer that does not answer is dead as before.
    clock.advance(3_000);
    assert.equal(socket.terminated, true);
  });
});

describe('PeerSocket start', () => {
  it('starts no timer when made: pings begin with start()', () => {
    const socket = new RecordingSocket();
    const clock = new FakeClock();
    const peer = peerOn(socket, clock, false);
    clock.advance(5_000);
    assert.equal(socket.pings, 0);
    assert.equal(clock.pendingTimers(), 0, 'no timer armed');
    peer.start();
    clock.advance(1_000);
    assert.equal(socket.pings, 1);
  });
});
