import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Owner } from './owner.js';

/**
 * A hand-driven hub for misbehaviour the reference hub never shows: garbage frames, a link that
 * goes silent without closing. It accepts any device, answers hello with welcome (unless told
 * not to), and records every connection and frame. It is closed when `owner` (the test) ends.
 */
export interface FakeHubConnection {
  socket: WebSocket;
  request: IncomingMessage;
  frames: Array<Record<string, unknown>>;
  nextFrame(
    predicate?: (f: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

export interface FakeHub {
  url: string;
  connections: FakeHubConnection[];
  nextConnection(timeoutMs?: number): Promise<FakeHubConnection>;
  /** Idempotent; also registered with the owner, so only a test about closing calls it. */
  close(): Promise<void>;
}

export async function startFakeHub(
  owner: Owner,
  options: { welcome?: boolean; autoPong?: boolean } = {},
): Promise<FakeHub> {
  const { welcome = true, autoPong = true } = options;
  const server: Server = createServer();
  const wss = new WebSocketServer({ server, autoPong });
  const connections: FakeHubConnection[] = [];
  const waiting: Array<(c: FakeHubConnection) => void> = [];

  wss.on('connection', (socket, request) => {
    const frames: Array<Record<string, unknown>> = [];
    const frameWaiters = new Set<{
      p: (f: Record<string, unknown>) => boolean;
      r: (f: Record<string, unknown>) => void;
    }>();
    const connection: FakeHubConnection = {
      socket,
      request,
      frames,
      nextFrame(p = () => true, timeoutMs = 5000) {
        const seen = frames.find(p);
        if (seen) return Promise.resolve(seen);
        return new Promise((resolve, reject) => {
          const w = { p, r: (f: Record<string, unknown>) => (clearTimeout(t), resolve(f)) };
          const t = setTimeout(
            () => (frameWaiters.delete(w), reject(new Error('no matching frame'))),
            timeoutMs,
          );
          frameWaiters.add(w);
        });
      },
    };
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      frames.push(frame);
      if (frame.type === 'hello' && welcome) {
        const payload = frame.payload as { device_id: string };
        socket.send(JSON.stringify({ type: 'welcome', payload: { device_id: payload.device_id } }));
      }
      for (const w of frameWaiters) {
        if (!w.p(frame)) continue;
        frameWaiters.delete(w);
        w.r(frame);
      }
    });
    connections.push(connection);
    waiting.shift()?.(connection);
  });

  let closed: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    })());
  owner.after(close);

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/v1/device`,
    connections,
    // Generous: an agent process that starts on a loaded machine takes seconds to dial.
    nextConnection(timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no connection')), timeoutMs);
        waiting.push((c) => (clearTimeout(t), resolve(c)));
      });
    },
    close,
  };
}
