import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Router } from '../../src/agent/router.js';
import { SessionKinds } from '../../src/agent/session-kinds.js';
import { InputReport, OutputWindow } from '../../src/agent/session-window.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { number, object, string } from '../../src/protocol/schema.js';
import { captureLogger } from '../helpers/log-capture.js';

function kinds(speaksBytes = true) {
  const router = new Router(() => {});
  const refused: { requestId: string; code: string; message: string }[] = [];
  const sessions = new SessionKinds(
    router,
    captureLogger().logger,
    (requestId, code, message) => refused.push({ requestId, code, message }),
    () => speaksBytes,
  );
  const send = (type: string, payload: Record<string, unknown>, requestId = 'r1') =>
    router.dispatch(JSON.stringify({ type, request_id: requestId, payload }));
  return { router, sessions, refused, send };
}

const filePayload = object({ path: string({ maxLength: 10 }) });

describe('SessionKinds', () => {
  it('hands session_open to the feature serving its kind, with who asked and the stream', () => {
    const { sessions, send } = kinds();
    const opened: unknown[] = [];
    sessions.register('file_get', {
      payload: filePayload,
      open: (payload, request) => opened.push({ payload, request }),
    });
    send('session_open', { kind: 'file_get', path: '/a', stream: 9, requested_by: 'client c1' });
    assert.deepEqual(opened, [
      {
        payload: { path: '/a' },
        request: { requestId: 'r1', requestedBy: 'client c1', stream: 9 },
      },
    ]);
  });

  it('refuses a kind nobody serves, an unknown kind, a bad payload and a taken stream', () => {
    const { router, sessions, refused, send } = kinds();
    sessions.register('file_get', { payload: filePayload, open: () => {} });
    send('session_open', { kind: 'forward' });
    send('session_open', { kind: 'telnet' });
    send('session_open', { kind: 'file_get', path: 'x'.repeat(11) });
    router.openStream(4, () => {});
    send('session_open', { kind: 'file_get', path: '/a', stream: 4 });
    send('session_open', { rows: 1, cols: 1 }); // a shell, the default kind
    assert.deepEqual(
      refused.map((r) => r.code),
      Array(5).fill(ErrorCode.invalidPayload),
    );
    assert.match(refused[0]?.message ?? '', /does not serve forward sessions/);
    assert.match(refused[1]?.message ?? '', /unknown kind "telnet"/);
    assert.match(refused[2]?.message ?? '', /payload\.path/);
    assert.match(refused[3]?.message ?? '', /stream 4 is already open/);
    assert.match(refused[4]?.message ?? '', /does not serve shell sessions/);
  });

  it('sends JSON when the link has no binary frames', () => {
    const { sessions, send } = kinds(false);
    let stream: number | null | undefined;
    sessions.register('file_get', {
      payload: filePayload,
      open: (_payload, request) => (stream = request.stream),
    });
    send('session_open', { kind: 'file_get', path: '/a', stream: 9 });
    assert.equal(stream, null);
  });

  it('routes follow-ups to the tracked session until it is untracked', () => {
    const { sessions, send } = kinds();
    const seen: unknown[] = [];
    const untrack = sessions.track('r1', {
      input: (bytes) => seen.push(['input', bytes.toString()]),
      resize: (size) => seen.push(['resize', size]),
      ack: (bytes) => seen.push(['ack', bytes]),
      close: () => seen.push(['close']),
    });
    assert.throws(() => sessions.track('r1', { close: () => {} }), /already tracked/);
    send('session_input', { data: Buffer.from('hi').toString('base64') });
    send('session_resize', { rows: 2, cols: 3 });
    send('session_ack', { bytes: 7 });
    send('session_close', { request_id: 'r1' }, 'other');
    send('session_ack', { bytes: 8 }, 'r2');
    untrack();
    send('session_close', {});
    assert.deepEqual(seen, [
      ['input', 'hi'],
      ['resize', { rows: 2, cols: 3 }],
      ['ack', 7],
      ['close'],
    ]);
  });

  it('refuses a second feature for one kind', () => {
    const { sessions } = kinds();
    sessions.register('forward', { payload: object({ port: number() }), open: () => {} });
    assert.throws(
      () => sessions.register('forward', { payload: object({}), open: () => {} }),
      /already served/,
    );
  });
});

describe('OutputWindow', () => {
  it('closes at its limit and opens again on an ack, never wider than what was sent', () => {
    const window = new OutputWindow(10);
    let opened = 0;
    window.onOpen(() => opened++);
    window.sent(6);
    assert.equal(window.open, true);
    window.sent(4);
    assert.equal(window.open, false);
    window.acked(3);
    assert.equal(window.open, true);
    assert.equal(opened, 1);
    window.acked(1_000); // beyond what was sent: clamped
    assert.equal(window.inFlight, 0);
    window.acked(2); // behind an earlier count: ignored
    assert.equal(window.inFlight, 0);
    window.sent(10);
    assert.equal(window.open, false);
  });
});

describe('InputReport', () => {
  it('reports every so many bytes and when caught up, cumulatively', () => {
    const reports: number[] = [];
    const report = new InputReport((bytes) => reports.push(bytes), 100);
    report.received(250);
    report.taken(60);
    report.taken(60);
    assert.deepEqual(reports, [120]);
    assert.equal(report.pending, 130);
    report.taken(130);
    assert.deepEqual(reports, [120, 250]);
    report.flush();
    assert.deepEqual(reports, [120, 250]);
  });
});
