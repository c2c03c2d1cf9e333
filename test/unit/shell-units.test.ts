import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EscapeFilter } from '../../src/cli/escape-filter.js';
import { doneStatus, parseShellArgs, SHELL_FAILED } from '../../src/cli/shell.js';
import { sessionOpenPayload } from '../../src/commands/shell/session-payloads.js';
import { sttyLine, sttyResizeArgv } from '../../src/commands/shell/terminal-size.js';
import { HeldSessionInput } from '../../src/hub/held-session-input.js';
import { sessionResizePayload } from '../../src/protocol/sessions.js';

describe('the ~ escape of iottly-agent shell', () => {
  const run = (...pieces: string[]) => {
    const filter = new EscapeFilter();
    let sent = '';
    for (const piece of pieces) {
      const out = filter.push(Buffer.from(piece));
      sent += out.send.toString();
      if (out.drop) return { sent, drop: true };
    }
    return { sent, drop: false };
  };

  it('drops on ~. first or after a newline, also split across reads', () => {
    assert.deepEqual(run('~.'), { sent: '', drop: true });
    assert.deepEqual(run('ls\r~', '.'), { sent: 'ls\r', drop: true });
  });

  it('passes ~ anywhere else, ~~ as one ~, and ~ before another key as both', () => {
    assert.deepEqual(run('a~.'), { sent: 'a~.', drop: false });
    assert.deepEqual(run('\r~~.'), { sent: '\r~.', drop: false });
    assert.deepEqual(run('\n~x'), { sent: '\n~x', drop: false });
  });
});

describe('shell command line and endings', () => {
  it('takes the hub and key from flags or the environment', () => {
    const args = parseShellArgs(['pi-17'], {
      IOTTLY_HUB_URL: 'https://hub.example',
      IOTTLY_API_KEY: 'k',
    });
    assert.deepEqual(args, {
      hubUrl: 'wss://hub.example/v1/stream',
      apiKey: 'k',
      deviceId: 'pi-17',
      argv: undefined,
    });
    assert.deepEqual(
      parseShellArgs(['--hub', 'http://h:1', '--api-key', 'x', 'd', '--', 'top'], {}).argv,
      ['top'],
    );
    assert.throws(() => parseShellArgs(['d'], {}), /--hub URL or IOTTLY_HUB_URL/);
    assert.throws(
      () => parseShellArgs(['a', 'b'], { IOTTLY_HUB_URL: 'ws://h', IOTTLY_API_KEY: 'k' }),
      /exactly one DEVICE/,
    );
  });

  it('exits with the remote status, 128 + signal, or 255 with the reason', () => {
    assert.deepEqual(doneStatus({ exit_code: 3 }), [3]);
    assert.deepEqual(doneStatus({ exit_code: null, signal: 'SIGKILL' }), [137]);
    assert.equal(doneStatus({ exit_code: null, idle: true })[0], SHELL_FAILED);
    const refused = doneStatus({ exit_code: null, error: { code: 'shell_denied', message: 'no' } });
    assert.deepEqual(refused, [SHELL_FAILED, 'shell_denied: no']);
  });
});

describe('session payloads and sizes', () => {
  it('bounds the terminal size and wants at most one of command and argv', () => {
    assert.equal(sessionResizePayload({ rows: 0, cols: 80 }, 'payload').ok, false);
    assert.equal(sessionResizePayload({ rows: 24, cols: 100_000 }, 'payload').ok, false);
    assert.equal(sessionOpenPayload({ rows: 24, cols: 80 }, 'payload').ok, true);
    const both = sessionOpenPayload({ rows: 24, cols: 80, command: 'ls', argv: ['ls'] }, 'payload');
    assert.match(!both.ok ? both.error : '', /at most one/);
  });

  it('sets the size with stty, on the slave named', () => {
    assert.equal(sttyLine('/bin/stty', { rows: 33, cols: 101 }), '/bin/stty rows 33 cols 101');
    assert.deepEqual(sttyResizeArgv('/bin/stty', '/dev/pts/4', { rows: 2, cols: 3 }), [
      '/bin/stty',
      '-F',
      '/dev/pts/4',
      'rows',
      '2',
      'cols',
      '3',
    ]);
  });
});

describe('session input held while the device is away', () => {
  it('keeps input up to its bound, an eof, the last size and ack and a close, then forgets them', () => {
    const held = new HeldSessionInput<object>();
    const session = {};
    assert.equal(held.keys(session, Buffer.from('ab'), 4), true);
    assert.equal(held.keys(session, Buffer.from('cde'), 4), false);
    assert.equal(held.keys(session, Buffer.from('cd'), 4), true);
    held.resize(session, { rows: 1, cols: 2 });
    held.resize(session, { rows: 3, cols: 4 });
    held.ack(session, 10);
    held.ack(session, 7);
    held.eof(session);
    held.close(session);
    const taken = held.take(session);
    assert.equal(Buffer.concat(taken?.bytes ?? []).toString(), 'abcd');
    assert.deepEqual(taken?.resize, { rows: 3, cols: 4 });
    assert.equal(taken?.ack, 10);
    assert.equal(taken?.eof, true);
    assert.equal(taken?.close, true);
    assert.equal(held.take(session), null);
  });
});
