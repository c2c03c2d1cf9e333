import { createServer, type Server, type Socket } from 'node:net';
import WebSocket from 'ws';
import { binaryData, decodeByteFrame, encodeByteFrame } from '../protocol/byte-frame.js';
import { decodeJson } from '../protocol/bounded-json.js';
import { MAX_FRAME_BYTES } from '../protocol/message.js';
import { isPlainObject } from '../protocol/schema.js';
import { SESSION_WINDOW_BYTES } from '../protocol/sessions.js';
import { backoffDelay, type BackoffOptions } from '../time/backoff.js';
import { ExitCode } from './exit-codes.js';
import type { ForwardArgs } from './forward-args.js';
import { ForwardStream, type StreamLink } from './forward-stream.js';

/**
 * `iottly-agent forward DEVICE [BIND_ADDR:]LOCAL_PORT:HOST:PORT`, as `ssh -L`: listens on the
 * local port, and every connection to it becomes a forward session to HOST:PORT as the device
 * sees it, all multiplexed on one WebSocket to the hub's `/v1/stream`, each under its own stream
 * number and its own windows (forward-stream.ts).
 *
 * The hub link:  connecting ──open──▶ open ──drop──▶ backoff ──timer──▶ connecting …
 *                     └── 401/403 ──▶ stopped (exit 255)        (SIGINT/SIGTERM: stopped, exit 0)
 * A dropped link ends the connections it carried (their tunnels are gone on the device too);
 * connections accepted while it is down wait, paused, for the next one (at most
 * MAX_WAITING of them; more are closed at once).
 *
 * Loaded only by `iottly-agent forward` (src/cli.ts imports it lazily): the agent never loads it.
 */
export interface ForwardIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** SIGINT or SIGTERM: stop listening, close every connection, exit 0. */
  onInterrupt(listener: () => void): () => void;
  random?: () => number;
}

const SOCKET_HIGH_WATER_BYTES = 4 * 1024 * 1024;
const MAX_WAITING = 256;
const RECONNECT: BackoffOptions = { initialDelayMs: 500, maxDelayMs: 15_000 };
/** Stream numbers are unique among this client's open sessions; wrapping at 2^31 is plenty. */
const MAX_STREAM = 0x7fff_ffff;

export function runForward(args: ForwardArgs, io: ForwardIo): Promise<number> {
  return new Promise<number>((resolve) => {
    const streams = new Map<number, ForwardStream>();
    const byRequest = new Map<string, ForwardStream>();
    const waiting: Socket[] = [];
    let socket: WebSocket | null = null;
    let state: 'connecting' | 'open' | 'backoff' | 'stopped' = 'connecting';
    let attempt = 0;
    let retryTimer: NodeJS.Timeout | null = null;
    let nextStream = 0;
    let everOpen = false;
    const log = (line: string): void => void io.stderr.write(`iottly-agent forward: ${line}\n`);

    const link: StreamLink = {
      sendJson: (message) => {
        if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
      },
      sendBytes: (frame) => {
        if (socket?.readyState === WebSocket.OPEN)
          socket.send(encodeByteFrame({ ...frame, seq: 0 }), pumpAll);
      },
      backedUp: () => (socket?.bufferedAmount ?? 0) >= SOCKET_HIGH_WATER_BYTES,
    };
    let pumpScheduled = false;
    // After a send's callback: the socket's queue shrank, so paused local readers may go on.
    function pumpAll(): void {
      if (pumpScheduled) return;
      pumpScheduled = true;
      setImmediate(() => {
        pumpScheduled = false;
        if (link.backedUp()) return;
        for (const stream of streams.values()) stream.pump();
      });
    }

    const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (local) => {
      if (state === 'stopped') return void local.destroy();
      if (state !== 'open') {
        if (waiting.length >= MAX_WAITING) {
          log(`the hub is not connected and ${MAX_WAITING} connections wait: closing a new one`);
          return void local.destroy();
        }
        waiting.push(local);
        local.once('close', () => {
          const index = waiting.indexOf(local);
          if (index >= 0) waiting.splice(index, 1);
        });
        return;
      }
      openStream(local);
    });

    const openStream = (local: Socket): void => {
      do nextStream = nextStream >= MAX_STREAM ? 1 : nextStream + 1;
      while (streams.has(nextStream));
      const number = nextStream;
      const requestId = `f-${number}`;
      const stream = new ForwardStream({
        requestId,
        stream: number,
        socket: local,
        link,
        deviceId: args.deviceId,
        host: args.targetHost,
        port: args.targetPort,
        windowBytes: SESSION_WINDOW_BYTES,
        log,
        onEnd: () => {
          streams.delete(number);
          byRequest.delete(requestId);
        },
      });
      streams.set(number, stream);
      byRequest.set(requestId, stream);
      log(`connection ${number} from ${local.remoteAddress}:${local.remotePort} opened`);
      stream.open();
    };

    const stop = (code: number, message?: string): void => {
      if (state === 'stopped') return;
      state = 'stopped';
      stopInterrupt();
      if (retryTimer) clearTimeout(retryTimer);
      for (const stream of [...streams.values()]) stream.abort('forward stopped');
      for (const local of waiting.splice(0)) local.destroy();
      server.close();
      if (message) log(message);
      if (socket) {
        socket.removeAllListeners();
        socket.on('error', () => undefined);
        if (socket.readyState === WebSocket.OPEN) socket.close(1000, 'done');
        else socket.terminate();
      }
      resolve(code);
    };
    const stopInterrupt = io.onInterrupt(() => stop(ExitCode.ok));

    const dropped = (why: string): void => {
      if (state === 'stopped' || state === 'backoff') return;
      const wasOpen = state === 'open';
      state = 'backoff';
      socket?.removeAllListeners();
      socket?.on('error', () => undefined);
      socket?.terminate();
      socket = null;
      for (const stream of [...streams.values()]) stream.abort('the hub connection dropped');
      if (wasOpen) attempt = 0;
      const delay = backoffDelay(attempt++, RECONNECT, io.random ?? Math.random);
      log(`${why}; reconnecting in ${(delay / 1000).toFixed(1)} s`);
      retryTimer = setTimeout(dial, delay);
    };

    const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
      if (isBinary) {
        const result = decodeByteFrame(binaryData(data as Buffer));
        if (!result.ok) return;
        const { frame } = result;
        streams.get(frame.stream)?.onBytes(frame.kind, frame.fd, frame.data);
        return;
      }
      const decoded = decodeJson(String(data), { maxBytes: MAX_FRAME_BYTES });
      if (!decoded.ok || !isPlainObject(decoded.value)) return;
      const { type, request_id: requestId, payload } = decoded.value;
      if (typeof type !== 'string' || typeof requestId !== 'string' || !isPlainObject(payload))
        return;
      byRequest.get(requestId)?.onJson(type, payload);
    };

    function dial(): void {
      if (state === 'stopped') return;
      state = 'connecting';
      retryTimer = null;
      const ws = new WebSocket(args.hubUrl, {
        headers: { Authorization: `Bearer ${args.apiKey}` },
        maxPayload: MAX_FRAME_BYTES,
        perMessageDeflate: false,
        // As `exec`: no browser is involved, so a zero mask spares a copy of every frame.
        generateMask: (mask: Buffer) => mask.fill(0),
      });
      socket = ws;
      ws.on('open', () => {
        if (state !== 'connecting') return;
        state = 'open';
        if (everOpen) log('reconnected to the hub');
        everOpen = true;
        for (const local of waiting.splice(0)) if (!local.destroyed) openStream(local);
      });
      ws.on('message', onMessage);
      ws.on('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        if (status === 401 || status === 403)
          stop(ExitCode.execFailed, `the hub refused the API key (HTTP ${status})`);
        else dropped(`the hub answered HTTP ${status} at ${args.hubUrl}`);
      });
      ws.on('error', (err) => dropped(`cannot reach the hub at ${args.hubUrl}: ${err.message}`));
      ws.on('close', (code) => dropped(`the hub closed the connection (${code})`));
    }

    server.once('error', (err: NodeJS.ErrnoException) =>
      stop(
        ExitCode.execFailed,
        `cannot listen on ${args.bindAddress}:${args.localPort}: ${err.code ?? err.message}`,
      ),
    );
    server.listen(args.localPort, args.bindAddress, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : args.localPort;
      const bind = args.bindAddress.includes(':') ? `[${args.bindAddress}]` : args.bindAddress;
      io.stdout.write(
        `listening on ${bind}:${port}, forwarding to ${args.targetHost}:${args.targetPort} on ${args.deviceId}\n`,
      );
      dial();
    });
  });
}
