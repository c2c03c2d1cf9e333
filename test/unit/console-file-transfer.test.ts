import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ByteFd, ByteKind, type ByteFrame } from '../../src/protocol/byte-frame.js';
import type { ParsedFrame } from '../../src/protocol/parse.js';
import {
  ACK_EVERY_BYTES,
  baseName,
  FileDownload,
  MAX_DOWNLOAD_BYTES,
} from '../../src/console/file-download.js';
import type { TransferProgress, TransferResult } from '../../src/console/file-transfer.js';
import { SESSION_WINDOW_BYTES } from '../../src/protocol/sessions.js';
import { StreamClient, type SocketEvents } from '../../src/console/stream-client.js';
import { FileUpload, UPLOAD_FRAME_BYTES, type FileSource } from '../../src/console/file-upload.js';

/**
 * The console's file transfers (src/console/file-upload.ts, file-download.ts) against a
 * recording transport: the messages and frames of the `file_put` and `file_get` session kinds,
 * the 1 MiB window both ways, the sha256 check, the download bound, cancel and connection loss.
 * The browser test (test/browser/files-panel.test.ts) runs them against a real hub and agent.
 */
type Sent = { type: string; payload: Record<string, unknown>; request_id?: string };

function transport(connected = true) {
  const sent: Sent[] = [];
  const bytes: ByteFrame[] = [];
  return {
    sent,
    bytes,
    transport: {
      send: (m: Sent) => (connected ? (sent.push(m), true) : false),
      sendBytes: (f: ByteFrame) => (connected ? (bytes.push(f), true) : false),
    },
  };
}

const frame = (type: string, requestId: string, payload: Record<string, unknown>): ParsedFrame =>
  ({ type, request_id: requestId, payload }) as ParsedFrame;

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A file read as a Blob would be, each read settling on a later turn of the event loop. */
function source(content: Uint8Array, reads: [number, number][] = []): FileSource {
  return {
    size: content.length,
    read: async (offset, length) => {
      reads.push([offset, length]);
      await new Promise((resolve) => setImmediate(resolve));
      return content.slice(offset, offset + length);
    },
  };
}

/** Lets every pending read and the sends after it run. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

function uploadHarness(connected = true) {
  const t = transport(connected);
  const progress: TransferProgress[] = [];
  const ended: TransferResult[] = [];
  let id = 40;
  const upload = new FileUpload(
    t.transport,
    { progress: (p) => progress.push(p), ended: (r) => ended.push(r) },
    () => id++,
  );
  return { ...t, upload, progress, ended };
}

const sentBytes = (frames: ByteFrame[]) =>
  frames.filter((f) => f.kind === ByteKind.data).reduce((n, f) => n + f.data.length, 0);

describe('console: file upload', () => {
  it('hashes first, opens file_put with size, sha256 and mode, sends under the window, verifies', async () => {
    const content = randomBytes(3 * SESSION_WINDOW_BYTES + 12_345);
    const h = uploadHarness();
    assert.equal(
      h.upload.start({ deviceId: 'dev1', path: '/srv/a.bin', mode: 0o600 }, source(content)),
      true,
    );
    assert.equal(h.upload.start({ deviceId: 'dev1', path: '/srv/b' }, source(content)), false);
    await settle();
    assert.equal(h.progress[0]?.phase, 'hashing');
    assert.deepEqual(h.sent[0], {
      type: 'session_open',
      request_id: 'put-40',
      payload: {
        device_id: 'dev1',
        kind: 'file_put',
        path: '/srv/a.bin',
        size: content.length,
        sha256: sha(content),
        stream: 40,
        mode: 0o600,
      },
    });
    assert.equal(h.bytes.length, 0, 'nothing is sent before session_opened');

    h.upload.onFrame(frame('session_opened', 'put-40', {}));
    await settle();
    assert.equal(sentBytes(h.bytes), SESSION_WINDOW_BYTES, 'the window is full, no more');
    for (const f of h.bytes) {
      assert.equal(f.stream, 40);
      assert.equal(f.fd, ByteFd.stdin);
      assert.ok(f.data.length <= UPLOAD_FRAME_BYTES);
    }
    // The device takes bytes: the window moves by as much, never past it.
    h.upload.onFrame(frame('input_consumed', 'put-40', { bytes: 300_000 }));
    await settle();
    assert.equal(sentBytes(h.bytes), SESSION_WINDOW_BYTES + UPLOAD_FRAME_BYTES, 'one more frame');
    assert.deepEqual(h.progress.at(-1), { phase: 'sending', done: 300_000, total: content.length });
    for (let taken = 0; taken < content.length;) {
      taken = Math.min(content.length, taken + 500_000);
      h.upload.onFrame(frame('input_consumed', 'put-40', { bytes: taken }));
      await settle();
      const inFlight = sentBytes(h.bytes) - taken;
      assert.ok(inFlight <= SESSION_WINDOW_BYTES, 'never past the window');
      const left = content.length - taken;
      assert.ok(inFlight >= Math.min(left, SESSION_WINDOW_BYTES - UPLOAD_FRAME_BYTES), 'kept full');
    }
    const data = Buffer.concat(h.bytes.filter((f) => f.kind === ByteKind.data).map((f) => f.data));
    assert.ok(data.equals(content), 'every byte once, in order');
    assert.deepEqual(
      { kind: h.bytes.at(-1)?.kind, fd: h.bytes.at(-1)?.fd, stream: h.bytes.at(-1)?.stream },
      { kind: ByteKind.eof, fd: ByteFd.stdin, stream: 40 },
      'eof after the last byte',
    );
    assert.equal(h.progress.at(-1)?.phase, 'verifying');
    h.upload.onFrame(
      frame('session_done', 'put-40', {
        exit_code: 0,
        bytes: content.length,
        sha256: sha(content),
      }),
    );
    assert.deepEqual(h.ended, [{ ok: true, bytes: content.length, sha256: sha(content) }]);
    assert.equal(h.upload.active, false);
  });

  it('goes on from the offset the device already holds', async () => {
    const content = randomBytes(700_000);
    const reads: [number, number][] = [];
    const h = uploadHarness();
    h.upload.start({ deviceId: 'dev1', path: '/srv/a' }, source(content, reads));
    await settle();
    reads.length = 0;
    h.upload.onFrame(frame('session_opened', 'put-40', { offset: 600_000 }));
    await settle();
    assert.deepEqual(reads, [[600_000, 100_000]]);
    assert.equal(h.bytes[0]?.data.length, 100_000);
    h.upload.onFrame(frame('input_consumed', 'put-40', { bytes: 100_000 }));
    assert.deepEqual(h.progress.at(-1), { phase: 'verifying', done: 700_000, total: 700_000 });
    // An offset past the file is a broken reply: closed, not believed.
    const bad = uploadHarness();
    bad.upload.start({ deviceId: 'dev1', path: '/srv/a' }, source(content));
    await settle();
    bad.upload.onFrame(frame('session_opened', 'put-40', { offset: 700_001 }));
    assert.equal(bad.ended[0]?.ok, false);
    assert.equal((bad.ended[0] as { code: string }).code, 'protocol_error');
    assert.equal(bad.sent.at(-1)?.type, 'session_close');
  });

  it('passes on the device error, and refuses a sha256 that is not the file’s', async () => {
    const content = randomBytes(1000);
    const denied = uploadHarness();
    denied.upload.start({ deviceId: 'dev1', path: '/etc/shadow' }, source(content));
    await settle();
    denied.upload.onFrame(
      frame('error', 'put-40', { code: 'file_denied', message: '/etc is not in files.allowPaths' }),
    );
    assert.equal(denied.ended.length, 0, 'the session_done ends it');
    denied.upload.onFrame(frame('session_done', 'put-40', { exit_code: null, error: {} }));
    assert.deepEqual(denied.ended, [
      { ok: false, code: 'file_denied', message: '/etc is not in files.allowPaths' },
    ]);

    const wrong = uploadHarness();
    wrong.upload.start({ deviceId: 'dev1', path: '/srv/a' }, source(content));
    await settle();
    wrong.upload.onFrame(frame('session_opened', 'put-40', {}));
    await settle();
    wrong.upload.onFrame(frame('input_consumed', 'put-40', { bytes: 1000 }));
    wrong.upload.onFrame(
      frame('session_done', 'put-40', { exit_code: 0, bytes: 1000, sha256: 'ab'.repeat(32) }),
    );
    assert.equal((wrong.ended[0] as { code: string }).code, 'sha256_mismatch');
  });

  it('cancel closes the session once; a read still in flight sends nothing after', async () => {
    const content = randomBytes(2_000_000);
    const h = uploadHarness();
    h.upload.start({ deviceId: 'dev1', path: '/srv/a' }, source(content));
    await settle();
    h.upload.onFrame(frame('session_opened', 'put-40', {}));
    h.upload.cancel(); // the first read is pending
    await settle();
    assert.equal(h.bytes.length, 0);
    assert.deepEqual(h.sent.at(-1), { type: 'session_close', request_id: 'put-40', payload: {} });
    assert.deepEqual(h.ended, [{ ok: false, code: 'cancelled', message: 'cancelled' }]);
    h.upload.cancel();
    h.upload.connectionLost();
    assert.equal(h.ended.length, 1, 'one end per start');
    assert.equal(h.upload.onFrame(frame('session_done', 'put-40', { exit_code: 0 })), false);
  });

  it('cancel while hashing sends nothing at all and ends it once', async () => {
    const h = uploadHarness();
    h.upload.start({ deviceId: 'dev1', path: '/srv/a' }, source(randomBytes(3_000_000)));
    h.upload.cancel();
    await settle();
    assert.deepEqual(h.sent, [], 'no session_open after the cancel');
    assert.deepEqual(h.ended, [{ ok: false, code: 'cancelled', message: 'cancelled' }]);
    assert.equal(h.upload.active, false);
  });

  it('a read failing ends it with read_failed; not connected ends it at the open', async () => {
    const h = uploadHarness();
    h.upload.start(
      { deviceId: 'dev1', path: '/srv/a' },
      { size: 10, read: async () => Promise.reject(new Error('NotReadableError: file changed')) },
    );
    await settle();
    assert.deepEqual(h.ended, [
      { ok: false, code: 'read_failed', message: 'NotReadableError: file changed' },
    ]);
    const offline = uploadHarness(false);
    offline.upload.start({ deviceId: 'dev1', path: '/srv/a' }, source(randomBytes(10)));
    await settle();
    assert.deepEqual(offline.ended, [
      { ok: false, code: 'connection_lost', message: 'not connected' },
    ]);
  });

  it('an empty file opens, sends just the eof and verifies', async () => {
    const h = uploadHarness();
    h.upload.start({ deviceId: 'dev1', path: '/srv/empty' }, source(new Uint8Array(0)));
    await settle();
    assert.equal(h.sent[0]?.payload['sha256'], sha(new Uint8Array(0)));
    h.upload.onFrame(frame('session_opened', 'put-40', {}));
    await settle();
    assert.deepEqual(
      h.bytes.map((f) => f.kind),
      [ByteKind.eof],
    );
    h.upload.onFrame(
      frame('session_done', 'put-40', { exit_code: 0, bytes: 0, sha256: sha(new Uint8Array(0)) }),
    );
    assert.equal(h.ended[0]?.ok, true);
  });
});

function downloadHarness(maxBytes?: number) {
  const t = transport();
  const progress: TransferProgress[] = [];
  const ended: TransferResult[] = [];
  const files: { parts: Uint8Array[]; name: string; size: number; mode: number | undefined }[] = [];
  let id = 9;
  const download = new FileDownload(
    t.transport,
    {
      progress: (p) => progress.push(p),
      file: (parts, info) => files.push({ parts, ...info }),
      ended: (r) => ended.push(r),
    },
    () => id++,
    maxBytes,
  );
  return { ...t, download, progress, ended, files };
}

const output = (stream: number, data: Uint8Array): ByteFrame => ({
  kind: ByteKind.data,
  stream,
  fd: ByteFd.stdout,
  seq: 0,
  data,
});

describe('console: file download', () => {
  it('opens file_get, takes the bytes with session_ack every quarter window, checks sha256', () => {
    const content = randomBytes(2 * SESSION_WINDOW_BYTES + 777);
    const h = downloadHarness();
    assert.equal(h.download.start('dev1', '/var/log/app.log'), true);
    assert.equal(h.download.start('dev1', '/x'), false, 'one at a time');
    assert.deepEqual(h.sent[0], {
      type: 'session_open',
      request_id: 'get-9',
      payload: { device_id: 'dev1', kind: 'file_get', path: '/var/log/app.log', stream: 9 },
    });
    h.download.onFrame(frame('session_opened', 'get-9', { size: content.length, mode: 0o640 }));
    for (let at = 0; at < content.length; at += 100_000)
      h.download.onBytes(output(9, content.subarray(at, at + 100_000)));
    h.download.onBytes({ ...output(9, new Uint8Array(0)), kind: ByteKind.eof });
    h.download.onBytes(output(10, randomBytes(5))); // another stream's: not this download's
    const acks = h.sent.filter((m) => m.type === 'session_ack').map((m) => m.payload['bytes']);
    assert.equal(acks.length, 7, 'every 300 000 bytes (three pieces), and at the end');
    assert.equal(acks.at(-1), content.length, 'the last ack says everything was taken');
    let previous = 0;
    for (const bytes of acks as number[]) {
      assert.ok(bytes - previous <= ACK_EVERY_BYTES + 100_000, 'acks keep up with the bytes');
      previous = bytes;
    }
    assert.equal(h.progress.at(-1)?.phase, 'verifying');
    h.download.onFrame(
      frame('session_done', 'get-9', { exit_code: 0, bytes: content.length, sha256: sha(content) }),
    );
    assert.deepEqual(h.ended, [{ ok: true, bytes: content.length, sha256: sha(content) }]);
    assert.equal(h.files.length, 1);
    assert.ok(Buffer.concat(h.files[0]?.parts ?? []).equals(content));
    assert.deepEqual(
      { name: h.files[0]?.name, size: h.files[0]?.size, mode: h.files[0]?.mode },
      { name: 'app.log', size: content.length, mode: 0o640 },
    );
  });

  it('refuses a file over its bound at session_opened, and more bytes than announced', () => {
    assert.equal(MAX_DOWNLOAD_BYTES, 512 * 1024 * 1024);
    const big = downloadHarness(1000);
    big.download.start('dev1', '/big');
    big.download.onFrame(frame('session_opened', 'get-9', { size: 1001 }));
    assert.equal((big.ended[0] as { code: string }).code, 'too_large');
    assert.match((big.ended[0] as { message: string }).message, /iottly-agent cp/);
    assert.deepEqual(big.sent.at(-1), { type: 'session_close', request_id: 'get-9', payload: {} });

    const liar = downloadHarness();
    liar.download.start('dev1', '/f');
    liar.download.onFrame(frame('session_opened', 'get-9', { size: 10 }));
    liar.download.onBytes(output(9, randomBytes(11)));
    assert.equal((liar.ended[0] as { code: string }).code, 'protocol_error');
    assert.equal(liar.sent.at(-1)?.type, 'session_close');
    assert.equal(liar.files.length, 0);
  });

  it('a sha256 that is not the bytes’, or fewer bytes than announced, saves nothing', () => {
    const content = randomBytes(5000);
    const wrong = downloadHarness();
    wrong.download.start('dev1', '/f');
    wrong.download.onFrame(frame('session_opened', 'get-9', { size: 5000 }));
    wrong.download.onBytes(output(9, content));
    wrong.download.onFrame(
      frame('session_done', 'get-9', { exit_code: 0, sha256: sha(randomBytes(5)) }),
    );
    assert.equal((wrong.ended[0] as { code: string }).code, 'sha256_mismatch');
    assert.equal(wrong.files.length, 0);

    const short = downloadHarness();
    short.download.start('dev1', '/f');
    short.download.onFrame(frame('session_opened', 'get-9', { size: 5000 }));
    short.download.onBytes(output(9, content.subarray(0, 4000)));
    short.download.onFrame(frame('session_done', 'get-9', { exit_code: 0, sha256: sha(content) }));
    assert.equal((short.ended[0] as { code: string }).code, 'protocol_error');
    assert.equal(short.files.length, 0);
  });

  it('the device’s error, a cancel and a lost connection each end it once', () => {
    const missing = downloadHarness();
    missing.download.start('dev1', '/nope');
    missing.download.onFrame(
      frame('error', 'get-9', { code: 'file_not_found', message: '/nope does not exist' }),
    );
    missing.download.onFrame(frame('session_done', 'get-9', { exit_code: null }));
    assert.deepEqual(missing.ended, [
      { ok: false, code: 'file_not_found', message: '/nope does not exist' },
    ]);

    const h = downloadHarness();
    h.download.start('dev1', '/f');
    h.download.onFrame(frame('session_opened', 'get-9', { size: 10 }));
    h.download.cancel();
    h.download.connectionLost();
    assert.deepEqual(h.ended, [{ ok: false, code: 'cancelled', message: 'cancelled' }]);
    assert.equal(h.download.onFrame(frame('session_done', 'get-9', { exit_code: 0 })), false);

    const lost = downloadHarness();
    lost.download.start('dev1', '/f');
    lost.download.connectionLost();
    assert.equal((lost.ended[0] as { code: string }).code, 'connection_lost');
  });

  it('takes base64 session_output as bytes too, and names the saved file after the path', () => {
    const h = downloadHarness();
    h.download.start('dev1', '/etc/hostname');
    h.download.onFrame(frame('session_opened', 'get-9', { size: 5 }));
    h.download.onFrame(
      frame('session_output', 'get-9', { data: Buffer.from('host\n').toString('base64') }),
    );
    h.download.onFrame(
      frame('session_done', 'get-9', { exit_code: 0, sha256: sha(Buffer.from('host\n')) }),
    );
    assert.equal(h.ended[0]?.ok, true);
    assert.equal(baseName('/etc/hostname'), 'hostname');
    assert.equal(baseName('/srv/dir/'), 'dir');
    assert.equal(baseName('/'), 'download');
  });
});

describe('console: stream client and the transfers’ replies', () => {
  it('passes input_consumed (relayed by the hub for a session) to the app, validated', async () => {
    const frames: ParsedFrame[] = [];
    let events: SocketEvents | undefined;
    const client = new StreamClient({
      streamUrl: 'ws://hub/v1/stream',
      sessions: { token: async () => 'ist_x', recover: async () => 'ask', expired: false },
      createSocket: (_url, e) => {
        events = e;
        return { isOpen: () => true, send: () => {}, close: () => {} };
      },
      timers: { setTimeout: () => 0, clearTimeout: () => {} },
      now: () => 0,
      random: () => 0.5,
      onStatus: () => {},
      onFrame: (f) => frames.push(f),
    });
    client.start();
    await new Promise((resolve) => setImmediate(resolve));
    (events as SocketEvents).open();
    const message = (payload: unknown) =>
      JSON.stringify({ type: 'input_consumed', request_id: 'put-40', payload });
    (events as SocketEvents).message(message({ bytes: 262144 }));
    (events as SocketEvents).message(message({ bytes: -1 }));
    assert.deepEqual(
      frames.map((f) => [f.type, f.request_id, f.payload]),
      [['input_consumed', 'put-40', { bytes: 262144 }]],
    );
    assert.equal(client.badFrames, 1, 'a negative count is refused, not believed');
    client.stop();
  });
});
