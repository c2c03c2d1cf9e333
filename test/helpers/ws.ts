import { pino } from 'pino';
import WebSocket, { type ClientOptions } from 'ws';
import { Hub, type HubOptions } from '../../src/hub/hub.js';
import { BUILTIN_STREAMS } from '../../src/protocol/stream-names.js';
import type { Owner } from './owner.js';

/**
 * Helpers for tests that talk to real WebSocket servers: wait for events, never for time.
 * Every wait has a deadline so a broken test fails quickly instead of hanging the suite.
 */
export const WAIT_MS = 2_000;

export interface Frame {
  type: string;
  payload: Record<string, unknown>;
  request_id?: string;
  [key: string]: unknown;
}

interface Waiter {
  predicate: (frame: Frame) => boolean;
  resolve: (frame: Frame) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Every text frame a socket receives, from the moment it is created: frames that arrive while
 * a test is awaiting something else are kept until asked for.
 */
export class Inbox {
  readonly #frames: Frame[] = [];
  readonly #waiters = new Set<Waiter>();

  constructor(ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      this.#deliver(JSON.parse(data.toString()) as Frame);
    });
    ws.on('close', (code) => {
      for (const waiter of this.#waiters)
        this.#settle(waiter, new Error(`socket closed (${code}) while waiting`));
    });
  }

  /** The first frame (already received or still to come) that matches; it is taken out. */
  next(predicate: (frame: Frame) => boolean = () => true, timeoutMs = WAIT_MS): Promise<Frame> {
    const index = this.#frames.findIndex(predicate);
    if (index >= 0) return Promise.resolve(this.#frames.splice(index, 1)[0] as Frame);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(
          () => this.#settle(waiter, new Error(`no matching frame within ${timeoutMs} ms`)),
          timeoutMs,
        ),
      };
      this.#waiters.add(waiter);
    });
  }

  /** The next frame of this type. */
  nextOfType(type: string, timeoutMs = WAIT_MS): Promise<Frame> {
    return this.next((f) => f.type === type, timeoutMs);
  }

  /** Frames received and not taken yet. */
  get unread(): readonly Frame[] {
    return this.#frames;
  }

  #deliver(frame: Frame): void {
    for (const waiter of this.#waiters) {
      if (waiter.predicate(frame)) {
        this.#settle(waiter, null, frame);
        return;
      }
    }
    this.#frames.push(frame);
  }

  #settle(waiter: Waiter, err: Error | null, frame?: Frame): void {
    clearTimeout(waiter.timer);
    this.#waiters.delete(waiter);
    if (err) waiter.reject(err);
    else waiter.resolve(frame as Frame);
  }
}

export interface Peer {
  ws: WebSocket;
  inbox: Inbox;
  send(message: Record<string, unknown>): void;
  /** Resolves with the close code and reason (also if it closed already). */
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens a socket; rejects with the HTTP status if the upgrade is refused. */
export function connect(url: string, options: ClientOptions = {}): Promise<Peer> {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
  const inbox = new Inbox(ws);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const peer: Peer = { ws, inbox, closed, send: (message) => ws.send(JSON.stringify(message)) };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(peer));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      reject(
        Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode}`), {
          status: res.statusCode,
        }),
      );
    });
    ws.on('error', reject); // after open this is a no-op, but keeps errors from going unhandled
  });
}

/**
 * Expects the upgrade to be refused; resolves with the HTTP status and body. Fails if the
 * socket ever opens (a refused peer must never be accepted and then closed).
 */
export function expectRefused(
  url: string,
  options: ClientOptions = {},
): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        ws.terminate();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response|socket hang up/.test(err.message)) reject(err);
    });
  });
}

/**
 * Resolves once `condition()` holds, checking after every turn of the event loop: for server
 * state that no client-visible event announces (e.g. the hub having processed a close).
 */
export async function waitFor(condition: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

// ── a hub on port 0 ────────────────────────────────────────────────────────────────────────

export const API_KEY = 'ik_test_key';
export const DEVICE_ID = 'dev-1';
export const DEVICE_TOKEN = 'token-dev-1';
export const OTHER_DEVICE_ID = 'dev-2';
export const OTHER_DEVICE_TOKEN = 'token-dev-2';

export interface TestHub {
  hub: Hub;
  url: string;
  wsUrl: string;
  /** Idempotent; also registered with the owner, so only a test about stopping calls it. */
  stop(): Promise<void>;
}

/**
 * A real Hub on 127.0.0.1:0 with a silent logger, two devices and one API key, stopped when
 * `owner` (the test) ends. Its stop closes every peer the test connected to it.
 */
export async function startHub(
  owner: Owner,
  overrides: Partial<HubOptions> = {},
): Promise<TestHub> {
  let next = 0;
  const hub = new Hub({
    apiKeys: [API_KEY],
    deviceTokens: new Map([
      [DEVICE_ID, DEVICE_TOKEN],
      [OTHER_DEVICE_ID, OTHER_DEVICE_TOKEN],
    ]),
    logger: pino({ level: 'silent' }),
    ids: (prefix) => `${prefix}_${++next}`,
    ...overrides,
  });
  owner.after(() => hub.stop());
  const { url } = await hub.start();
  return { hub, url, wsUrl: url.replace(/^http/, 'ws'), stop: () => hub.stop() };
}

export const HELLO = {
  agent_version: '0.1.0-test',
  protocol: 1,
  hostname: 'testbox',
  os: 'Linux',
  arch: 'arm64',
  // What an agent on a Linux box offers: a subscription to any other stream is refused.
  capabilities: [...BUILTIN_STREAMS.map((stream) => `telemetry:${stream}`), 'commands'],
};

/** Opens a device WebSocket, before any hello. */
export function openDevice(
  wsUrl: string,
  deviceId = DEVICE_ID,
  token = DEVICE_TOKEN,
  options: ClientOptions = {},
): Promise<Peer> {
  return connect(`${wsUrl}/v1/device`, {
    ...options,
    headers: { Authorization: `Bearer ${token}`, 'X-Iottly-Device-Id': deviceId },
  });
}

/** Says hello on an open device link (HELLO plus `extra` payload fields); resolves with the welcome. */
export async function sayHello(
  peer: Peer,
  extra: Record<string, unknown> = {},
  deviceId = DEVICE_ID,
): Promise<Frame> {
  peer.send({ type: 'hello', payload: { device_id: deviceId, ...HELLO, ...extra } });
  return peer.inbox.nextOfType('welcome');
}

/** Connects as a device and completes hello/welcome. */
export async function connectDevice(
  wsUrl: string,
  deviceId = DEVICE_ID,
  token = DEVICE_TOKEN,
  options: ClientOptions = {},
): Promise<Peer> {
  const peer = await openDevice(wsUrl, deviceId, token, options);
  await sayHello(peer, {}, deviceId);
  return peer;
}

/** The device time the test frames carry. */
export const FRAME_TS = '2026-05-06T14:22:46.123Z';

/** A device's cpu telemetry frame numbered `seq` (its value is the seq unless given). */
export const telemetryFrame = (seq: number, value = seq) => ({
  type: 'telemetry',
  channel: 'telemetry',
  ts: FRAME_TS,
  seq,
  payload: { stream: 'cpu', ts: FRAME_TS, value },
});

export function connectClient(wsUrl: string, options: ClientOptions = {}): Promise<Peer> {
  return connect(`${wsUrl}/v1/stream?api_key=${API_KEY}`, options);
}
