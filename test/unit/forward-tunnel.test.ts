import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { connect, createServer, type NetConnectOpts, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { InputReport, OutputWindow } from '../../src/agent/session-window.js';
import { ForwardTunnel } from '../../src/forward/forward-tunnel.js';
import { SESSION_WINDOW_BYTES } from '../../src/protocol/sessions.js';
import { systemClock } from '../../src/time/clock.js';
import { waitFor } from '../helpers/ws.js';

/**
 * ForwardTunnel's flow control against a real TCP target on loopback: input is reported taken
 * only once the socket has taken it, and output stops at the window until acknowledged.
 */
const MiB = 1024 * 1024;

async function target(onSocket: (socket: Socket) => void): Promise<number> {
  const server: Server = createServer({ allowHalfOpen: true }, onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  after(() => {
    server.close();
  });
  return (server.address() as { port: number }).port;
}

function baseOptions() {
  return {
    requestId: 'r-1',
    requestedBy: 'test',
    target: '127.0.0.1:9',
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    outbox: { isBackedUp: () => false, onDrain: () => () => true },
    window: new OutputWindow(),
    report: new InputReport(() => undefined),
    sendOutput: () => undefined,
    sendEof: () => undefined,
    reply: () => undefined,
    connect: (options: NetConnectOpts) => connect(options),
    connectTimeoutMs: 5_000,
    idleTimeoutMs: 0,
    maxDurationMs: 0,
  };
}

function tunnel(port: number) {
  const replies: { type: string; payload: Record<string, unknown> }[] = [];
  const consumed: number[] = [];
  const window = new OutputWindow();
  let output = 0;
  let eof = false;
  const t = new ForwardTunnel({
    requestId: 'r-1',
    requestedBy: 'test',
    target: `127.0.0.1:${port}`,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    outbox: { isBackedUp: () => false, onDrain: () => () => true },
    window,
    report: new InputReport((bytes) => consumed.push(bytes)),
    sendOutput: (bytes) => (output += bytes.length),
    sendEof: () => (eof = true),
    reply: (type, payload) => replies.push({ type, payload }),
    connect: (options) => connect(options),
    connectTimeoutMs: 5_000,
    idleTimeoutMs: 0,
    maxDurationMs: 0,
  });
  t.connect('127.0.0.1', 4, port);
  after(() => t.close());
  return {
    t,
    replies,
    consumed,
    window,
    output: () => output,
    eof: () => eof,
  };
}

describe('ForwardTunnel', () => {
  it('reports input taken only once the target socket has taken it', async () => {
    // A socket whose kernel buffer is full: write() says false until the test drains it.
    class FullSocket extends EventEmitter {
      writableLength = 0;
      localPort = 1;
      write(bytes: Buffer): boolean {
        this.writableLength += bytes.length;
        return false;
      }
      drain(): void {
        this.writableLength = 0;
        this.emit('drain');
      }
      pause(): void {}
      resume(): void {}
      end(): void {}
      destroy(): void {}
    }
    const socket = new FullSocket();
    const consumed: number[] = [];
    const errors: unknown[] = [];
    const t = new ForwardTunnel({
      ...baseOptions(),
      reply: (type, payload) => void (type === 'error' && errors.push(payload.code)),
      report: new InputReport((bytes) => consumed.push(bytes)),
      connect: () => socket as unknown as Socket,
    });
    t.connect('127.0.0.1', 4, 9);
    socket.emit('connect');
    t.input(Buffer.alloc(300 * 1024));
    t.input(Buffer.alloc(100 * 1024));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(consumed, [], 'nothing is reported while write() says the socket is full');
    socket.drain();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(consumed, [400 * 1024]);
    // Past twice the window unreported, the client is ignoring its window: the tunnel ends.
    for (let i = 0; i < 5; i++) t.input(Buffer.alloc(512 * 1024));
    await t.done;
    assert.deepEqual(errors, ['input_overflow']);
  });

  it('gives up within connectTimeoutMs when the name never resolves', async () => {
    const errors: unknown[] = [];
    const t = new ForwardTunnel({
      ...baseOptions(),
      connectTimeoutMs: 50,
      reply: (type, payload) => void (type === 'error' && errors.push(payload.code)),
    });
    // The tunnel's timers do not hold a process open (the agent's link does): this one does.
    const alive = setTimeout(() => undefined, 10_000);
    t.begin(); // and no connect(): the resolver has not answered
    await t.done;
    clearTimeout(alive);
    assert.deepEqual(errors, ['forward_failed']);
  });

  it('stops reading the target at the window and goes on when acknowledged; half-close both ways', async () => {
    const port = await target((socket) => {
      socket.end(Buffer.alloc(4 * MiB, 2));
    });
    const { t, replies, window, output, eof } = tunnel(port);
    await waitFor(() => output() >= SESSION_WINDOW_BYTES, 5_000);
    // Paused at the window: no more arrives without an ack, however long the target waits.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(window.inFlight < SESSION_WINDOW_BYTES + 256 * 1024, `${window.inFlight} in flight`);
    const before = output();
    t.ack(before);
    await waitFor(() => output() > before, 5_000);
    // Acknowledge as it comes, until the target's end.
    await waitFor(() => {
      t.ack(output());
      return eof();
    }, 5_000);
    assert.equal(output(), 4 * MiB);
    t.inputEnd();
    await t.done;
    const done = replies.find((r) => r.type === 'session_done');
    assert.equal(done?.payload.exit_code, 0);
    assert.equal(done?.payload.bytes_out, 4 * MiB);
  });
});
