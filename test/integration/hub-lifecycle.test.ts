import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { parseHubArgs } from '../../src/cli/hub-args.js';
import { Hub } from '../../src/hub/hub.js';
import {
  runHub,
  type HubRunOptions,
  type RunHubDependencies,
  type RunningHub,
} from '../../src/roots/hub-root.js';
import { systemClock } from '../../src/time/clock.js';
import { makePki } from '../helpers/certs.js';
import type { Owner } from '../helpers/owner.js';
import {
  API_KEY,
  DEVICE_ID,
  DEVICE_TOKEN,
  connect,
  connectClient,
  connectDevice,
  expectRefused,
  startHub,
  waitFor,
} from '../helpers/ws.js';
import { CloseCode } from '../../src/protocol/close-codes.js';

describe('hub heartbeat', () => {
  it('closes with 4001 "no pong" a device and a client that do not answer pings', async (t) => {
    const hub = await startHub(t, { pingIntervalMs: 40, pongTimeoutMs: 40 });
    const device = await connectDevice(hub.wsUrl, DEVICE_ID, DEVICE_TOKEN, { autoPong: false });
    const client = await connectClient(hub.wsUrl, { autoPong: false });
    let pinged = false;
    client.ws.once('ping', () => (pinged = true));
    const noPong = { code: CloseCode.noPong, reason: 'no pong' };
    assert.deepEqual(await device.closed, noPong, 'closed with a close frame, not terminated');
    assert.deepEqual(await client.closed, noPong);
    assert.ok(pinged, 'pinged before it was closed');
    // The hub's side of a closed socket closes in a turn of its own, which on a busy
    // machine can come after the peer has seen the connection end.
    await waitFor(() => hub.hub.device(DEVICE_ID)?.connected === false);
  });

  it('keeps peers that answer pings; frames are no answer to a ping', async (t) => {
    // A pong timeout a loaded machine always meets (the pong crosses this process's event
    // loop twice); a ping every 100 ms otherwise, so the rounds stay short.
    const hub = await startHub(t, { pingIntervalMs: 100, pongTimeoutMs: PONG_TIMEOUT_MS });
    const device = await connectDevice(hub.wsUrl); // answers pings (ws default)
    let devicePings = 0;
    device.ws.on('ping', () => devicePings++);
    const chatty = await connectClient(hub.wsUrl, { autoPong: false });
    let frames = 0;
    const talk = () => {
      frames++;
      chatty.send({ type: 'subscribe', payload: { device_id: DEVICE_ID, streams: ['cpu'] } });
    };
    chatty.ws.on('ping', talk); // a frame right after every ping, where a pong should be
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const closed = await Promise.race([
      chatty.closed,
      new Promise((resolve) => (deadline = setTimeout(resolve, EVENTUALLY_MS, 'still open'))),
    ]);
    clearTimeout(deadline); // a pending timer would hold the file open
    assert.deepEqual(closed, { code: CloseCode.noPong, reason: 'no pong' });
    assert.ok(frames >= 1, 'it answered the ping with a frame');
    // The device answered the round that closed the chatty client, and more after it.
    await waitFor(() => devicePings >= 3, EVENTUALLY_MS);
    assert.equal(device.ws.readyState, device.ws.OPEN);
  });

  it('terminates a peer that answers neither the ping nor the close', async (t) => {
    const hub = await startHub(t, { pingIntervalMs: 40, pongTimeoutMs: 40, closeTimeoutMs: 50 });
    const socket = await rawUpgrade(hub.url, { Authorization: `Bearer ${DEVICE_TOKEN}` });
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    await once(socket, 'close');
    const frames = serverFrames(Buffer.concat(received));
    assert.deepEqual(
      frames.map((f) => f.opcode),
      [OPCODE_PING, OPCODE_CLOSE],
      'one ping, then the close frame',
    );
    const close = frames[1]?.payload ?? Buffer.alloc(0);
    assert.equal(close.readUInt16BE(0), CloseCode.noPong);
    assert.equal(close.subarray(2).toString(), 'no pong');
  });
});

/** A pong deadline, and a bound for "eventually", that a loaded machine meets. */
const PONG_TIMEOUT_MS = 1_000;
const EVENTUALLY_MS = 15_000;

const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;

/** The hub's frames in what a raw socket received (unmasked, each shorter than 126 bytes). */
function serverFrames(data: Buffer): { opcode: number; payload: Buffer }[] {
  const frames: { opcode: number; payload: Buffer }[] = [];
  for (let at = 0; at + 2 <= data.length;) {
    const opcode = (data[at] as number) & 0x0f;
    const length = (data[at + 1] as number) & 0x7f;
    assert.ok(length < 126, 'a short control frame');
    frames.push({ opcode, payload: data.subarray(at + 2, at + 2 + length) });
    at += 2 + length;
  }
  return frames;
}

describe('hub stop()', () => {
  it('closes every WebSocket with 1001 "server restart" and refuses new ones', async (t) => {
    const hub = await startHub(t);
    const device = await connectDevice(hub.wsUrl);
    const client = await connectClient(hub.wsUrl);
    await hub.stop(); // the subject; the helper's own stop runs again at the end
    assert.deepEqual(await device.closed, { code: 1001, reason: 'server restart' });
    assert.deepEqual(await client.closed, { code: 1001, reason: 'server restart' });
    assert.equal(hub.hub.state, 'stopped');
    await assert.rejects(connectClient(hub.wsUrl));
    await hub.stop(); // idempotent
  });

  it('terminates a peer that never completes the close handshake', async (t) => {
    const hub = await startHub(t, { closeTimeoutMs: 50 });
    const socket = await rawUpgrade(hub.url, { Authorization: `Bearer ${DEVICE_TOKEN}` });
    const socketClosed = once(socket, 'close');
    socket.resume(); // read and ignore everything, including the close frame
    const started = Date.now();
    await hub.stop();
    await socketClosed;
    // Far above closeTimeoutMs on a loaded machine, far below ws's own 30 s.
    assert.ok(Date.now() - started < 10_000, "stop() is bounded by closeTimeoutMs, not ws's 30 s");
  });

  it('stops a hub that never started', async () => {
    const hub = new Hub({
      apiKeys: [API_KEY],
      deviceTokens: new Map(),
      logger: pino({ level: 'silent' }),
    });
    await hub.stop();
    assert.equal(hub.state, 'stopped');
    await assert.rejects(hub.start(), /cannot start a hub that is stopped/);
  });
});

/** A WebSocket upgrade done by hand: the socket answers nothing, like a hung peer. */
function rawUpgrade(base: string, headers: Record<string, string>): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/v1/device`, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    });
    req.on('upgrade', (_res, socket) => resolve(socket));
    req.on('response', (res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/** runHub for a test: the hub it starts is stopped when `owner` (the test) ends. */
async function runOwnedHub(
  owner: Owner,
  options: HubRunOptions,
  dependencies: RunHubDependencies,
): Promise<RunningHub> {
  const handle = await runHub(options, dependencies);
  owner.after(() => handle.stop());
  return handle;
}

describe('runHub', () => {
  const silent = pino({ level: 'silent' });

  it('prints where it listens and the generated key, and stops on SIGTERM', async (t) => {
    const options = parseHubArgs(
      ['--device-token', `${DEVICE_ID}=${DEVICE_TOKEN}`],
      () => 'ik_dev_generated',
    );
    const out: string[] = [];
    const signals = new EventEmitter();
    const handle = await runOwnedHub(t, options, {
      logger: silent,
      clock: systemClock,
      readFile: () => assert.fail('no TLS files to read'),
      banner: { write: (text: string) => out.push(text) },
      signals,
    });
    const ws = handle.url.replace('http', 'ws');
    assert.deepEqual(out, [
      `iottly hub listening on ${handle.url} (devices: ${ws}/v1/device, stream: ${ws}/v1/stream)\n`,
      `console: ${handle.url}/ (sign in with the API key)\n`,
      'api key (generated; choose one with --api-key): ik_dev_generated\n',
    ]);
    assert.match(handle.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const client = await connect(`${ws}/v1/stream?api_key=ik_dev_generated`);
    signals.emit('SIGTERM');
    await handle.done;
    assert.equal((await client.closed).code, 1001);
    assert.equal(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT'), 0);
  });

  it('prints no key line for a given key; stop() removes the signal handlers', async (t) => {
    const options = parseHubArgs(['--api-key', API_KEY]);
    const out: string[] = [];
    const signals = new EventEmitter();
    const handle = await runOwnedHub(t, options, {
      logger: silent,
      clock: systemClock,
      readFile: () => Buffer.alloc(0),
      banner: { write: (text: string) => out.push(text) },
      signals,
    });
    assert.equal(out.length, 2);
    await handle.stop();
    await handle.done;
    assert.equal(signals.listenerCount('SIGINT'), 0);
  });

  it('takes SIGTERM gracefully from before its banner: a signal sent as the banner appears stops it', async (t) => {
    // A supervisor (or a test) may signal the moment the banner is written; with the handlers
    // installed only after the banner, that SIGTERM met the default action (exit by signal).
    const options = parseHubArgs(['--api-key', API_KEY]);
    const signals = new EventEmitter();
    const handle = await runOwnedHub(t, options, {
      logger: silent,
      clock: systemClock,
      readFile: () => Buffer.alloc(0),
      banner: {
        write: () => {
          assert.equal(signals.listenerCount('SIGTERM'), 1, 'handler installed before the banner');
          return true;
        },
      },
      signals,
    });
    signals.emit('SIGTERM');
    await handle.done;
    assert.equal(handle.hub.state, 'stopped');
  });

  it('names the flag when a TLS file cannot be read', async () => {
    const options = parseHubArgs(['--tls-cert', '/nope/cert.pem', '--tls-key', '/nope/key.pem']);
    await assert.rejects(
      runHub(options, {
        logger: silent,
        clock: systemClock,
        readFile: (path) => readFileSync(path),
        banner: { write: () => true },
        signals: new EventEmitter(),
      }),
      (err: Error & { code?: string }) =>
        err.code === 'usage' && /^--tls-cert: cannot read/.test(err.message),
    );
  });

  it(
    'serves https/wss with --tls-cert/--tls-key',
    { skip: !hasOpenssl() && 'openssl not found' },
    async (t) => {
      const pki = makePki(t);
      const options = parseHubArgs([
        '--api-key',
        API_KEY,
        '--device-token',
        `${DEVICE_ID}=${DEVICE_TOKEN}`,
        '--tls-cert',
        pki.certPath,
        '--tls-key',
        pki.keyPath,
      ]);
      const out: string[] = [];
      const handle = await runOwnedHub(t, options, {
        logger: silent,
        clock: systemClock,
        readFile: (path) => readFileSync(path),
        banner: { write: (text: string) => out.push(text) },
        signals: new EventEmitter(),
      });
      assert.match(handle.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.match(out[0] ?? '', /devices: wss:\/\/127\.0\.0\.1:\d+\/v1\/device/);
      const ca = readFileSync(pki.caPath);
      const wss = handle.url.replace('https', 'wss');
      const device = await connectDevice(wss, DEVICE_ID, DEVICE_TOKEN, { ca });
      assert.equal((await expectRefused(`${wss}/v1/device`, { ca })).status, 401);
      await handle.stop(); // the subject: a stop closes wss links with 1001
      assert.equal((await device.closed).code, 1001);
    },
  );
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
