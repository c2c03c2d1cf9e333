import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { SessionKeeper } from '../../src/console/session-keeper.js';
import {
  StreamClient,
  type ConnectionStatus,
  type SocketEvents,
  type SocketHandle,
} from '../../src/console/stream-client.js';
import type { ParsedFrame } from '../../src/protocol/parse.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { Owner } from '../helpers/owner.js';
import { API_KEY, connectDevice, startHub, waitFor } from '../helpers/ws.js';

/**
 * The console's session keeper and stream client, run in Node against a real hub (with `ws`
 * standing in for the browser's WebSocket): sign-in, live telemetry, reconnection after a hub
 * restart on the same port, and an expired token asking the person again.
 */
function nodeSocket(url: string, events: SocketEvents): SocketHandle {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('open', () => events.open());
  ws.on('message', (data, isBinary) => events.message(isBinary ? data : data.toString()));
  ws.on('error', () => {}); // the close that follows is what counts
  ws.on('close', (code) => events.close(code));
  return {
    isOpen: () => ws.readyState === WebSocket.OPEN,
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
  };
}

interface Harness {
  client: StreamClient;
  sessions: SessionKeeper;
  statuses: ConnectionStatus[];
  frames: ParsedFrame[];
}

/** The console's stream client for the hub at `url`, stopped when `owner` (the test) ends. */
function consoleFor(owner: Owner, url: string, now: () => number = Date.now): Harness {
  const statuses: ConnectionStatus[] = [];
  const frames: ParsedFrame[] = [];
  const sessions = new SessionKeeper({ baseUrl: url, fetch: (u, init) => fetch(u, init), now });
  const client = new StreamClient({
    streamUrl: `${url.replace(/^http/, 'ws')}/v1/stream`,
    sessions,
    createSocket: nodeSocket,
    timers: {
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (t) => clearTimeout(t as never),
    },
    now: Date.now,
    random: () => 0,
    onStatus: (status) => statuses.push(status),
    onFrame: (frame) => frames.push(frame),
  });
  owner.after(() => client.stop());
  return { client, sessions, statuses, frames };
}

const kind = (h: Harness): string => h.client.status.kind;

describe('console stream client against a real hub', () => {
  it('signs in, receives telemetry, and comes back after a hub restart on the same port', async (t) => {
    const first = await startHub(t, { consoleDir: null });
    const port = Number(new URL(first.url).port);
    const h = consoleFor(t, first.url);
    await h.sessions.signIn(API_KEY);
    h.client.start();
    await waitFor(() => kind(h) === 'open');

    const device = await connectDevice(first.wsUrl);
    h.client.send({
      type: 'subscribe',
      request_id: 's1',
      payload: { device_id: 'dev-1', streams: ['cpu'] },
    });
    await waitFor(() => h.frames.some((f) => f.type === 'subscribed'));
    device.send({
      type: 'telemetry',
      channel: 'telemetry',
      ts: new Date().toISOString(),
      payload: { stream: 'cpu', ts: new Date().toISOString(), value: 12.5 },
    });
    await waitFor(() => h.frames.some((f) => f.type === 'telemetry'));
    assert.equal(h.frames.find((f) => f.type === 'telemetry')?.payload['value'], 12.5);

    await first.stop(); // the subject: a hub restart
    await waitFor(() => kind(h) === 'backoff' || kind(h) === 'connecting');
    const backoff = h.statuses.find((s) => s.kind === 'backoff');
    assert.ok(backoff?.kind === 'backoff');
    assert.equal(backoff.reason, 'the hub is restarting');
    assert.ok(backoff.delayMs >= 500 && backoff.delayMs < 1500, `restart delay ${backoff.delayMs}`);

    await startHub(t, { port, consoleDir: null }); // the same hub, restarted
    await waitFor(() => kind(h) === 'open', 10_000);
    assert.equal(h.client.send({ type: 'unsubscribe', payload: { subscription_id: 'x' } }), true);
  });

  it('backs off while the hub is away: 1 s doubling, counted attempts', async (t) => {
    const hub = await startHub(t, { consoleDir: null });
    const url = hub.url;
    const h = consoleFor(t, url);
    await h.sessions.signIn(API_KEY);
    await hub.stop();
    h.client.start();
    await waitFor(() => h.statuses.filter((s) => s.kind === 'backoff').length >= 2, 5_000);
    const delays = h.statuses.flatMap((s) =>
      s.kind === 'backoff' ? [[s.attempt, s.delayMs, s.reason]] : [],
    );
    // random() = 0: the lower edge of [ceiling/2, ceiling]
    assert.deepEqual(delays.slice(0, 2), [
      [1, 500, 'the hub does not answer'],
      [2, 1000, 'the hub does not answer'],
    ]);
  });

  it('asks again when the hub refuses an expired token, and renews silently with the key', async (t) => {
    const clock = new FakeClock(Date.now());
    const hub = await startHub(t, { clock, sessionTtlMs: 60_000, consoleDir: null });
    const port = Number(new URL(hub.url).port);

    // Signed in by link: a token, no key.
    const byLink = consoleFor(t, hub.url);
    const token = hub.hub.openSession(API_KEY).token;
    await byLink.sessions.adopt(token);
    // Signed in with the key.
    const byKey = consoleFor(t, hub.url);
    await byKey.sessions.signIn(API_KEY);
    byLink.client.start();
    byKey.client.start();
    await waitFor(() => kind(byLink) === 'open' && kind(byKey) === 'open');

    // The hub's time passes (the page's clock does not notice), then the hub restarts.
    clock.advance(60_000);
    await hub.stop();
    await startHub(t, { port, clock, sessionTtlMs: 60_000, consoleDir: null }); // restarted
    await waitFor(() => kind(byLink) === 'signed_out', 10_000);
    assert.deepEqual(byLink.client.status, { kind: 'signed_out', expired: true });
    assert.equal(byLink.sessions.signedIn, false);
    await waitFor(() => kind(byKey) === 'open', 10_000);

    // After the person signs in again, the same client connects.
    await byLink.sessions.signIn(API_KEY);
    byLink.client.start();
    await waitFor(() => kind(byLink) === 'open');
  });

  it('drops frames that fail validation, without throwing (fuzz)', () => {
    let events: SocketEvents | null = null;
    const frames: ParsedFrame[] = [];
    const client = new StreamClient({
      streamUrl: 'ws://unused/v1/stream',
      sessions: { token: async () => 'ist_x', recover: async () => 'ask', expired: false },
      createSocket: (_url, e) => {
        events = e;
        return { isOpen: () => true, send: () => {}, close: () => {} };
      },
      timers: { setTimeout: () => 0, clearTimeout: () => {} },
      now: () => 0,
      random: () => 0.5,
      onStatus: () => {},
      onFrame: (frame) => frames.push(frame),
    });
    client.start();
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        assert.ok(events);
        events.open();
        const pieces = [
          '{',
          '}',
          '"type"',
          ':',
          '"telemetry"',
          '"payload"',
          '{"value":1}',
          'null',
          '[',
          ']',
          ',',
          '"x"',
          '1e999',
          '"command_done"',
          '{"exit_code":0}',
        ];
        let seed = 11;
        const random = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
        for (let i = 0; i < 3_000; i++) {
          let text = '';
          const n = 1 + Math.floor(random() * 12);
          for (let j = 0; j < n; j++) text += pieces[Math.floor(random() * pieces.length)];
          events.message(text);
        }
        events.message(Buffer.from('binary'));
        events.message('{"type":"command_done","payload":{"exit_code":0},"request_id":"c1"}');
        events.message(
          '{"type":"telemetry","payload":{"subscription_id":"s","device_id":"d","stream":"cpu","ts":"2026-01-01T00:00:00Z","value":"high"}}',
        );
        assert.ok(frames.every((f) => typeof f.type === 'string'));
        assert.deepEqual(frames.at(-1)?.type, 'command_done');
        assert.ok(client.badFrames > 2_000, `bad frames: ${client.badFrames}`);
        client.stop();
        resolve();
      }),
    );
  });
});
