import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import WebSocket from 'ws';
import { Connection, type SocketFactory } from '../../src/agent/connection.js';
import type { LinkEvents } from '../../src/agent/link.js';
import { describeStatus, type ConnectionStatus } from '../../src/agent/connection-status.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { captureLogger } from '../helpers/log-capture.js';

/** Just enough of a ws client for the state machine: tests play the hub by emitting events. */
class FakeSocket extends EventEmitter {
  readyState: number = WebSocket.CONNECTING;
  sent: string[] = [];
  pings = 0;
  terminated = false;
  closedWith: number | null = null;
  bufferedAmount = 0;
  send(data: string, cb?: () => void): void {
    this.sent.push(data);
    cb?.();
  }
  ping(): void {
    this.pings++;
  }
  open(): void {
    this.readyState = WebSocket.OPEN;
    this.emit('open');
  }
  welcome(): void {
    this.emit(
      'message',
      Buffer.from(JSON.stringify({ type: 'welcome', payload: { device_id: 'dev1' } })),
      false,
    );
  }
  serverClose(code: number): void {
    this.readyState = WebSocket.CLOSED;
    this.emit('close', code, Buffer.from(''));
  }
  close(code: number): void {
    this.closedWith = code;
    this.serverClose(code);
  }
  terminate(): void {
    this.terminated = true;
    this.serverClose(1006);
  }
}

function setup(random = () => 0.5, logger = pino({ level: 'silent' })) {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const statuses: ConnectionStatus[] = [];
  const createSocket = (() => {
    const socket = new FakeSocket();
    sockets.push(socket);
    return socket as unknown as WebSocket;
  }) as SocketFactory;
  let online = 0;
  const connection: Connection = new Connection({
    url: 'ws://hub/v1/device',
    deviceId: 'dev1',
    token: 't',
    tls: {},
    heartbeat: { intervalMs: 30_000, timeoutMs: 10_000 },
    backoff: { initialDelayMs: 1000, maxDelayMs: 30_000 },
    dialTimeoutMs: 15_000,
    closeTimeoutMs: 2000,
    userAgent: 'test',
    clock,
    random,
    createSocket,
    logger,
  });
  const events: LinkEvents = {
    hello: () => ({ device_id: 'dev1' }),
    onBytes: () => {},
    onFrame: (text) => {
      if (text && JSON.parse(text).type === 'welcome') connection.markWelcomed();
    },
    onStatus: (s) => statuses.push(s),
    onOnline: () => online++,
    onOffline: () => online--,
  };
  const start = () => connection.start(events);
  const last = () => sockets[sockets.length - 1] as FakeSocket;
  const backoffs = () =>
    statuses.filter((s) => s.kind === 'backoff').map((s) => (s as { delayMs: number }).delayMs);
  return { clock, sockets, statuses, connection, start, last, backoffs, online: () => online };
}

describe('Connection', () => {
  it('numbers attempts from 1, the same in the status object and in its words', () => {
    const t = setup(() => 0.999999);
    t.start();
    t.last().serverClose(1006);
    t.clock.advance(1000);
    t.last().serverClose(1006);
    t.clock.advance(2000);
    const numbered = t.statuses.flatMap((s) =>
      s.kind === 'connecting' || s.kind === 'backoff' ? [[s.attempt, describeStatus(s)]] : [],
    );
    assert.deepEqual(numbered, [
      [1, 'connecting to ws://hub/v1/device (attempt 1)'],
      [2, 'retrying in 1000 ms (attempt 2) after closed_1006'],
      [2, 'connecting to ws://hub/v1/device (attempt 2)'],
      [3, 'retrying in 2000 ms (attempt 3) after closed_1006'],
      [3, 'connecting to ws://hub/v1/device (attempt 3)'],
    ]);
  });

  it('says where the device endpoint is when the hub answers the upgrade with 404', () => {
    const { logger, lines } = captureLogger();
    const t = setup(() => 0.5, logger);
    t.start();
    t.last().emit('unexpected-response', {}, { statusCode: 404, resume: () => {} });
    t.last().terminate();
    const lost = lines.find((l) => l.code === 'http_error');
    assert.equal(
      lost?.msg,
      'link lost: hub answered the upgrade with HTTP 404: no device endpoint at /v1/device there; check server.url (the reference hub serves devices at /v1/device)',
    );
  });

  it('sends hello on open and goes online on welcome', () => {
    const t = setup();
    t.start();
    t.last().open();
    assert.equal(JSON.parse(t.last().sent[0] as string).type, 'hello');
    assert.equal(t.connection.status.kind, 'handshaking');
    t.last().welcome();
    assert.equal(t.connection.status.kind, 'online');
    assert.equal(t.online(), 1);
  });

  it('backs off exponentially while dials fail, with exactly one dial in flight', () => {
    const t = setup(() => 0.999999);
    t.start();
    for (let i = 0; i < 7; i++) {
      assert.equal(t.sockets.length, i + 1, 'one socket per attempt');
      t.last().emit('error', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }));
      t.last().serverClose(1006);
      t.clock.advance(t.backoffs().at(-1) as number);
    }
    assert.deepEqual(t.backoffs(), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it('does not reset the back-off for a hub that accepts and then drops before welcome', () => {
    const t = setup(() => 0.999999);
    t.start();
    for (let i = 0; i < 4; i++) {
      t.last().open();
      t.last().serverClose(1011);
      t.clock.advance(t.backoffs().at(-1) as number);
    }
    assert.deepEqual(t.backoffs(), [1000, 2000, 4000, 8000]);
  });

  it('resets the back-off only after welcome', () => {
    const t = setup(() => 0.999999);
    t.start();
    t.last().serverClose(1006);
    t.clock.advance(1000);
    t.last().serverClose(1006);
    t.clock.advance(2000);
    t.last().open();
    t.last().welcome();
    t.last().serverClose(1006);
    assert.deepEqual(t.backoffs(), [1000, 2000, 1000]);
  });

  it('comes back after a short jittered delay when a healthy link closes with 1001', () => {
    const t = setup(() => 0);
    t.start();
    t.last().open();
    t.last().welcome();
    t.last().serverClose(1001);
    assert.deepEqual(t.backoffs(), [500]);
    assert.equal(t.online(), 0);
  });

  it('waits near the maximum after HTTP 401 and keeps doing so', () => {
    const t = setup(() => 0);
    t.start();
    for (let i = 0; i < 3; i++) {
      t.last().emit('unexpected-response', {}, { statusCode: 401, resume() {} });
      t.clock.advance(t.backoffs().at(-1) as number);
    }
    assert.deepEqual(t.backoffs(), [22_500, 22_500, 22_500]);
    assert.ok(t.sockets.slice(0, 3).every((s) => s.terminated));
  });

  it('aborts a dial that hangs after the dial timeout', () => {
    const t = setup();
    t.start();
    t.clock.advance(14_999);
    assert.equal(t.last().terminated, false);
    t.clock.advance(1);
    assert.equal(t.last().terminated, true);
    const backoff = t.statuses.find((s) => s.kind === 'backoff');
    assert.equal(backoff?.kind === 'backoff' && backoff.reason, 'dial_timeout');
  });

  it('pings a quiet link and terminates it when nothing arrives for interval + timeout', () => {
    const t = setup();
    t.start();
    t.last().open();
    t.last().welcome();
    t.clock.advance(30_000);
    assert.equal(t.last().pings, 1);
    t.clock.advance(10_000);
    assert.equal(t.sockets[0]?.terminated, true);
    const backoff = t.statuses.find((s) => s.kind === 'backoff');
    assert.equal(backoff?.kind === 'backoff' && backoff.reason, 'heartbeat_timeout');
  });

  it('a server ping keeps the link alive', () => {
    const t = setup();
    t.start();
    t.last().open();
    t.last().welcome();
    for (let i = 0; i < 10; i++) {
      t.clock.advance(25_000);
      t.last().emit('ping');
    }
    assert.equal(t.sockets.length, 1);
    assert.equal(t.last().terminated, false);
  });

  it('stop() closes with 1000, cancels a pending retry and never dials again', async () => {
    const t = setup();
    t.start();
    t.last().open();
    t.last().welcome();
    await t.connection.stop();
    assert.equal(t.last().closedWith, 1000);
    assert.equal(t.connection.status.kind, 'stopped');

    const u = setup();
    u.start();
    u.last().serverClose(1006);
    await u.connection.stop();
    u.clock.advance(120_000);
    assert.equal(u.sockets.length, 1);
    assert.equal(u.clock.pendingTimers(), 0);
  });

  it('stop() terminates a socket that does not finish closing in time', async () => {
    const t = setup();
    t.start();
    t.last().open();
    t.last().welcome();
    const socket = t.last();
    socket.close = (code: number) => {
      socket.closedWith = code; // a peer that never answers the close frame
    };
    const stopped = t.connection.stop();
    t.clock.advance(2000);
    await stopped;
    assert.equal(socket.terminated, true);
  });
});
