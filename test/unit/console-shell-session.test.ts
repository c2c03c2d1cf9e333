import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ByteFd,
  ByteKind,
  encodeByteFrame,
  type ByteFrame,
} from '../../src/protocol/byte-frame.js';
import type { ParsedFrame } from '../../src/protocol/parse.js';
import {
  describeSessionEnd,
  MAX_INPUT_FRAME_BYTES,
  ShellSession,
} from '../../src/console/shell-session.js';
import { StreamClient, type SocketEvents } from '../../src/console/stream-client.js';

/**
 * The console's shell session logic (src/console/shell-session.ts) against a recording
 * transport, and the stream client's binary path with a scripted socket. The browser test
 * (test/browser/console.test.ts) runs the same code against a real hub, agent and PTY.
 */
function harness(connected = true) {
  const sent: { type: string; payload: Record<string, unknown>; request_id?: string }[] = [];
  const bytes: ByteFrame[] = [];
  const output: string[] = [];
  const ended: { text: string; ok: boolean }[] = [];
  let id = 7;
  const session = new ShellSession(
    {
      send: (m) => (connected ? (sent.push(m), true) : false),
      sendBytes: (f) => (bytes.push(f), connected),
    },
    {
      output: (b) => output.push(new TextDecoder().decode(b)),
      opened: () => {},
      ended: (text, ok) => ended.push({ text, ok }),
    },
    () => id++,
  );
  return { session, sent, bytes, output, ended };
}

const frame = (type: string, requestId: string, payload: Record<string, unknown>): ParsedFrame =>
  ({ type, request_id: requestId, payload }) as ParsedFrame;

const out = (stream: number, text: string): ByteFrame => ({
  kind: ByteKind.data,
  stream,
  fd: ByteFd.stdout,
  seq: 0,
  data: new TextEncoder().encode(text),
});

describe('console: shell session', () => {
  it('opens with its own stream number, types bytes, resizes, shows output and ends once', () => {
    const h = harness();
    assert.equal(h.session.open('dev1', 30, 100), true);
    assert.equal(h.session.open('dev1', 30, 100), false, 'one session at a time');
    assert.deepEqual(h.sent[0], {
      type: 'session_open',
      request_id: 'shell-7',
      payload: { device_id: 'dev1', rows: 30, cols: 100, stream: 7 },
    });
    assert.equal(h.session.onFrame(frame('session_opened', 'shell-7', { pid: 42 })), true);
    h.session.type('ls é\r');
    assert.deepEqual(h.bytes[0], {
      kind: ByteKind.data,
      stream: 7,
      fd: ByteFd.stdin,
      seq: 0,
      data: new TextEncoder().encode('ls é\r'),
    });
    h.session.type('x'.repeat(MAX_INPUT_FRAME_BYTES * 2 + 1)); // a large paste
    assert.deepEqual(
      h.bytes.slice(1).map((f) => f.data.length),
      [MAX_INPUT_FRAME_BYTES, MAX_INPUT_FRAME_BYTES, 1],
    );
    h.session.resize(40, 120);
    assert.deepEqual(h.sent[1], {
      type: 'session_resize',
      request_id: 'shell-7',
      payload: { rows: 40, cols: 120 },
    });
    h.session.onBytes(out(7, 'bin'));
    h.session.onBytes(out(8, 'not ours'));
    h.session.onFrame(frame('session_output', 'shell-7', { data: btoa('json') }));
    assert.equal(h.session.onFrame(frame('command_done', 'cmd-1', {})), false, 'not its frame');
    h.session.onFrame(frame('session_done', 'shell-7', { exit_code: 3, duration_ms: 1500 }));
    assert.deepEqual(h.output, ['bin', 'json']);
    assert.deepEqual(h.ended, [{ text: 'exit 3 · 1.5 s', ok: false }]);
    assert.equal(h.session.active, false);
    h.session.onFrame(frame('session_done', 'shell-7', { exit_code: 0 }));
    h.session.connectionLost();
    assert.equal(h.ended.length, 1, 'ended exactly once');
  });

  it("shows a refusal's error, not the bare session_done that follows it", () => {
    const h = harness();
    h.session.open('dev1', 24, 80);
    h.session.onFrame(frame('error', 'shell-7', { code: 'shell_denied', message: 'no shells' }));
    assert.equal(h.ended.length, 0, 'the session_done ends it');
    h.session.onFrame(frame('session_done', 'shell-7', { exit_code: null }));
    assert.deepEqual(h.ended, [{ text: 'shell_denied: no shells', ok: false }]);
  });

  it('close() sends session_close and forgets the session; late frames are ignored', () => {
    const h = harness();
    h.session.open('dev1', 24, 80);
    h.session.close();
    assert.deepEqual(h.sent[1], { type: 'session_close', request_id: 'shell-7', payload: {} });
    h.session.onBytes(out(7, 'late'));
    assert.equal(h.session.onFrame(frame('session_done', 'shell-7', { exit_code: 0 })), false);
    assert.deepEqual(h.output, []);
    assert.deepEqual(h.ended, []);
    assert.equal(h.session.open('dev2', 24, 80), true, 'a new one can open at once');
  });

  it('a dropped connection ends the session; nothing is sent when not connected', () => {
    const h = harness();
    h.session.open('dev1', 24, 80);
    h.session.connectionLost();
    assert.deepEqual(h.ended, [{ text: 'connection to the hub lost', ok: false }]);
    assert.equal(harness(false).session.open('dev1', 24, 80), false);
  });

  it('says how a session ended', () => {
    assert.deepEqual(describeSessionEnd({ exit_code: 0, duration_ms: 12 }, undefined), {
      text: 'exit 0 · 12 ms',
      ok: true,
    });
    assert.equal(
      describeSessionEnd({ exit_code: null, signal: 'SIGHUP', closed: true }, undefined).text,
      'closed · SIGHUP',
    );
    assert.equal(
      describeSessionEnd({ exit_code: null, idle: true }, undefined).text,
      'idle for too long',
    );
    assert.equal(describeSessionEnd({ exit_code: null }, undefined).text, 'ended');
  });
});

describe('console: stream client binary frames', () => {
  it('hands decoded binary frames to onBytes, counts bad ones, and sends frames as bytes', async () => {
    let events: SocketEvents | null = null;
    const sent: (string | Uint8Array)[] = [];
    const received: ByteFrame[] = [];
    const client = new StreamClient({
      streamUrl: 'ws://unused/v1/stream',
      sessions: { token: async () => 'ist_x', recover: async () => 'ask', expired: false },
      createSocket: (_url, e) => {
        events = e;
        return { isOpen: () => true, send: (d) => sent.push(d), close: () => {} };
      },
      timers: { setTimeout: () => 0, clearTimeout: () => {} },
      now: () => 0,
      random: () => 0.5,
      onStatus: () => {},
      onFrame: () => {},
      onBytes: (f) => received.push(f),
    });
    assert.equal(client.sendBytes(out(1, 'x')), false, 'not open: nothing queued');
    client.start();
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(events);
    (events as SocketEvents).open();
    const encoded = encodeByteFrame(out(5, 'hello'));
    (events as SocketEvents).message(encoded.buffer.slice(0)); // the browser's ArrayBuffer
    (events as SocketEvents).message(new Uint8Array([1, 0, 0])); // shorter than a header
    (events as SocketEvents).message(new Uint8Array(12)); // stream 0
    assert.equal(received.length, 1);
    assert.equal(received[0]?.stream, 5);
    assert.equal(new TextDecoder().decode(received[0]?.data), 'hello');
    assert.equal(client.badFrames, 2);
    assert.equal(client.sendBytes(out(5, 'keys')), true);
    assert.deepEqual(sent[0], encodeByteFrame(out(5, 'keys')));
    client.stop();
  });
});
