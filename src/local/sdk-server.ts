import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Clock } from '../time/clock.js';
import { AppPeer } from './app-peer.js';
import { BurstLog } from './burst-log.js';
import {
  agentStoppingLine,
  connectionStatusLine,
  sdkInitLine,
  type AppLine,
  type ConnectionState,
} from './sdk-wire.js';
import {
  applySocketAccess,
  prepareSocketPath,
  probeSocket,
  realSocketFs,
  type SocketFs,
  type SocketProbe,
} from './socket-file.js';
import { LogCode } from '../log/log-codes.js';

/**
 * The Unix socket that device apps (the iottly SDK) connect to.
 *
 *     idle ──start()──▶ listening ──stop()──▶ stopping ──▶ stopped
 *
 * The handshake is the server's: an app's `status: connected` signal is answered with
 * `sdkinit` and the current `connectionstatus`; every later change of the cloud link is sent
 * to every app. Everything else an app sends goes to `onAppLine`. `stop()` tells every app
 * `agentstatus: stopping`, closes them (bounded by `closeTimeoutMs`) and removes the socket
 * file.
 *
 * Each app's queue has its own bounds (see AppPeer); `maxTotalQueuedBytes` bounds them all
 * together, so 64 stuck apps cannot each hold their full share: past it, the app holding the
 * most drops its oldest lines.
 *
 * A connection beyond `maxApps` is refused; `too_many_apps` is logged for the first of a burst,
 * then once a minute with the number refused since (`refused`).
 */
export type SdkServerState = 'idle' | 'listening' | 'stopping' | 'stopped';

/** Refusals beyond maxApps are summed over this long in one log line. */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;

export interface SdkServerOptions {
  path: string;
  /** File mode of the socket (0660: owner and group may connect). */
  mode: number;
  /** Group given the socket, or null to keep the process's. */
  gid: number | null;
  /** Version announced in `sdkinit` (strict MAJOR.MINOR.PATCH). */
  sdkVersion: string;
  maxApps: number;
  maxLineBytes: number;
  maxQueuedLines: number;
  maxQueuedBytes: number;
  maxTotalQueuedBytes: number;
  closeTimeoutMs: number;
  initialConnectionState: ConnectionState;
  clock: Clock;
  logger: Logger;
  onAppLine: (peer: AppPeer, line: AppLine) => void;
  fs?: SocketFs;
  probe?: SocketProbe;
}

/** What the apps' queues hold right now, and what they dropped since the server started. */
export interface AppQueueStats {
  apps: number;
  queuedLines: number;
  queuedBytes: number;
  droppedLines: number;
}

export class SdkServer {
  readonly #o: SdkServerOptions;
  readonly #fs: SocketFs;
  readonly #server: Server;
  readonly #peers = new Set<AppPeer>();
  readonly #refusals: BurstLog;
  #state: SdkServerState = 'idle';
  #connection: ConnectionState;
  #nextId = 1;
  /** Lines dropped by apps already gone, so the total survives their disconnect. */
  #droppedByGone = 0;
  #stopping: Promise<void> | null = null;

  constructor(options: SdkServerOptions) {
    this.#o = options;
    this.#fs = options.fs ?? realSocketFs;
    this.#connection = options.initialConnectionState;
    this.#refusals = new BurstLog({
      intervalMs: REFUSAL_LOG_INTERVAL_MS,
      clock: options.clock,
      log: (refused) =>
        options.logger.warn(
          { code: LogCode.tooManyApps, maxApps: options.maxApps, refused },
          refused === 1
            ? 'local app refused: too many apps connected'
            : `${refused} local apps refused: too many apps connected`,
        ),
    });
    this.#server = createServer((socket) => this.#accept(socket));
    this.#server.on('error', (err) =>
      options.logger.error({ err: err.message }, 'local socket server error'),
    );
  }

  get state(): SdkServerState {
    return this.#state;
  }

  async start(): Promise<{ removedStale: boolean }> {
    if (this.#state !== 'idle')
      throw new Error(`cannot start a local socket that is ${this.#state}`);
    const { path } = this.#o;
    const prepared = await prepareSocketPath(path, this.#fs, this.#o.probe ?? probeSocket);
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(path, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#state = 'listening';
    await applySocketAccess(path, this.#o.mode, this.#o.gid, this.#fs);
    return prepared;
  }

  /** Apps that have said who they are; those named `name` when it is given. */
  apps(name?: string): AppPeer[] {
    return [...this.#peers].filter(
      (s) => s.state === 'open' && s.name !== null && (name === undefined || s.name === name),
    );
  }

  get connectedApps(): number {
    return this.#peers.size;
  }

  queueStats(): AppQueueStats {
    const stats = { apps: this.#peers.size, queuedLines: 0, queuedBytes: 0 };
    let droppedLines = this.#droppedByGone;
    for (const peer of this.#peers) {
      stats.queuedLines += peer.queuedLines;
      stats.queuedBytes += peer.queuedBytes;
      droppedLines += peer.dropped;
    }
    return { ...stats, droppedLines };
  }

  /** Tells every app about a change of the cloud link (nothing if it did not change). */
  setConnectionState(state: ConnectionState): void {
    if (state === this.#connection) return;
    this.#connection = state;
    const line = connectionStatusLine(state);
    for (const peer of this.apps()) peer.send(line);
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const wasListening = this.#state === 'listening';
    this.#state = 'stopping';
    if (wasListening) {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      const stopping = agentStoppingLine();
      await Promise.all(
        [...this.#peers].map((peer) => {
          peer.send(stopping);
          return peer.close();
        }),
      );
      await closed;
      // The server removes its socket file on close; this covers a crash-free but odd exit.
      await this.#fs.unlink(this.#o.path).catch(() => {});
    }
    this.#refusals.stop();
    this.#state = 'stopped';
  }

  #accept(socket: Socket): void {
    const { logger } = this.#o;
    if (this.#state !== 'listening' || this.#peers.size >= this.#o.maxApps) {
      this.#refusals.hit();
      socket.destroy();
      return;
    }
    const peer = new AppPeer({
      socket,
      id: this.#nextId++,
      maxLineBytes: this.#o.maxLineBytes,
      maxQueuedLines: this.#o.maxQueuedLines,
      maxQueuedBytes: this.#o.maxQueuedBytes,
      closeTimeoutMs: this.#o.closeTimeoutMs,
      clock: this.#o.clock,
      logger,
      onLine: (s, line) => this.#onLine(s, line),
      onQueued: () => this.#keepWithinTotal(),
      onClose: (s) => {
        this.#peers.delete(s);
        this.#droppedByGone += s.dropped;
        logger.info({ session: s.id, app: s.name, dropped: s.dropped }, 'local app disconnected');
      },
    });
    this.#peers.add(peer);
    logger.debug({ session: peer.id }, 'local app connected');
  }

  /** Past the total, the app holding the most droppable bytes sheds its oldest lines first. */
  #keepWithinTotal(): void {
    let total = 0;
    for (const peer of this.#peers) total += peer.queuedBytes;
    while (total > this.#o.maxTotalQueuedBytes) {
      let largest: AppPeer | null = null;
      for (const peer of this.#peers) {
        if (peer.droppableBytes > (largest?.droppableBytes ?? 0)) largest = peer;
      }
      if (largest === null) return; // only lines the sockets already took: one per app at most
      total -= largest.shed(total - this.#o.maxTotalQueuedBytes);
    }
  }

  #onLine(peer: AppPeer, line: AppLine): void {
    if (line.kind !== 'status') {
      this.#o.onAppLine(peer, line);
      return;
    }
    if (line.status === 'connected') {
      this.#o.logger.info(
        { session: peer.id, app: line.app, sdkVersion: line.version },
        'local app connected',
      );
      peer.send(sdkInitLine(this.#o.sdkVersion));
      peer.send(connectionStatusLine(this.#connection));
    } else {
      this.#o.logger.info({ session: peer.id, app: line.app }, 'local app says it is leaving');
    }
  }
}
