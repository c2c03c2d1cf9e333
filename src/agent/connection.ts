import type { ClientOptions, WebSocket } from 'ws';
import type { Logger } from 'pino';
import { MAX_FRAME_BYTES } from '../protocol/message.js';
import { frameText } from '../protocol/parse.js';
import { binaryData } from '../protocol/byte-frame.js';
import type { Clock, TimerHandle } from '../time/clock.js';
import { restartDelay, type BackoffOptions, type RandomSource } from '../time/backoff.js';
import { Heartbeat } from './heartbeat.js';
import { TurnCork } from './turn-cork.js';
import { Redial, type LinkFailure } from './redial.js';
import { helloFrame, helloPayload, type Link, type LinkEvents } from './link.js';
import type { ConnectionStatus } from './connection-status.js';
import { CloseCode } from '../protocol/close-codes.js';
import { closedLogCode, LogCode } from '../log/log-codes.js';

/**
 * The agent's one link to the hub, as an explicit state machine:
 *
 *     idle ─start()─▶ connecting ─open─▶ handshaking ─welcome─▶ online
 *                        ▲   │                │                    │
 *                        │   └──── close / error / timeout ────────┤
 *                        │                    ▼                    │
 *                        └──── timer ──── backoff ◀────────────────┘
 *     any ─stop()─▶ stopping ─close (or close timer → terminate)─▶ stopped
 *
 * Exactly one socket exists at a time, and a new dial starts only from the back-off timer, so
 * there is never more than one dial in flight. The attempt counter resets only on `welcome`: a
 * hub that accepts and then drops us keeps backing off instead of looping.
 */
/** Makes the socket of one dial; the real one is in web-socket.ts (only types of ws here). */
export type SocketFactory = (url: string, options: ClientOptions) => WebSocket;

/** WebSocket's readyState of an open socket (ws's `WebSocket.OPEN`, a value this file may not load). */
const OPEN = 1;

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface ConnectionOptions {
  url: string;
  deviceId: string;
  token: string;
  tls: TlsMaterial;
  heartbeat: { intervalMs: number; timeoutMs: number };
  backoff: BackoffOptions;
  /** Longest wait from starting a dial to the hub's `welcome`. */
  dialTimeoutMs: number;
  /** How long a graceful close may take before the socket is terminated. */
  closeTimeoutMs: number;
  userAgent: string;
  clock: Clock;
  random: RandomSource;
  createSocket: SocketFactory;
  logger: Logger;
  /**
   * Runs a function once the current turn of the event loop is over (setImmediate): the frames
   * of one turn then leave in one write (see turn-cork.ts). Without it each frame is its own.
   */
  afterTurn?: (run: () => void) => void;
}

export class Connection implements Link {
  readonly carriesBytes = true;
  readonly #o: ConnectionOptions;
  #status: ConnectionStatus = { kind: 'idle' };
  /** Set by start(): where everything the link learns goes. */
  #events: LinkEvents | null = null;
  #socket: WebSocket | null = null;
  #heartbeat: Heartbeat | null = null;
  readonly #redial: Redial;
  #failure: LinkFailure | null = null;
  #welcomed = false;
  #dialTimer: TimerHandle | null = null;
  readonly #cork: TurnCork | null;
  #closeTimer: TimerHandle | null = null;
  #stopped: Promise<void> | null = null;
  #resolveStopped: (() => void) | null = null;

  constructor(options: ConnectionOptions) {
    this.#o = options;
    this.#redial = new Redial(options);
    this.#cork = options.afterTurn ? new TurnCork(options.afterTurn) : null;
  }

  get status(): ConnectionStatus {
    return this.#status;
  }

  start(events: LinkEvents): void {
    if (this.#status.kind !== 'idle')
      throw new Error(`cannot start a connection that is ${this.#status.kind}`);
    this.#events = events;
    this.#dial();
  }

  /** Called by the welcome handler: the hub accepted us, the link is usable. */
  markWelcomed(): void {
    if (this.#status.kind !== 'handshaking' || !this.#socket) return;
    const socket = this.#socket;
    this.#clearDialTimer();
    this.#welcomed = true;
    this.#redial.welcomed();
    this.#setStatus({
      kind: 'online',
      since: this.#o.clock.date().toISOString(),
      url: this.#o.url,
    });
    this.#events?.onOnline({
      send: (frame, written) => {
        this.#cork?.hold();
        socket.send(frame, () => written());
      },
      bufferedAmount: () => socket.bufferedAmount,
    });
  }

  /** Says hello again on the open link (the hub answers with a fresh welcome). */
  sendHello(): void {
    if (this.#status.kind !== 'handshaking' || !this.#socket) return;
    this.#socket.send(this.#helloFrame());
  }

  /**
   * Called by the welcome handler when the welcome cannot be used (a broken hub): the link is
   * closed with 1002 without going online, and dialled again after the back-off.
   */
  refuseWelcome(code: string, message: string): void {
    if (this.#status.kind !== 'handshaking' || !this.#socket) return;
    this.#fail(code, message);
    this.#socket.close(CloseCode.protocolError, 'unusable welcome');
  }

  /**
   * Closes the link with 1000 and stops reconnecting. Resolves once the socket is closed, or
   * terminated after `closeTimeoutMs`.
   */
  stop(): Promise<void> {
    if (this.#stopped) return this.#stopped;
    this.#stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
    this.#redial.cancel();
    this.#clearDialTimer();
    const socket = this.#socket;
    if (!socket) {
      this.#finishStop();
      return this.#stopped;
    }
    this.#setStatus({ kind: 'stopping' });
    this.#closeTimer = this.#o.clock.setTimeout(() => socket.terminate(), this.#o.closeTimeoutMs);
    if (socket.readyState === OPEN) socket.close(CloseCode.normal, 'agent shutdown');
    else socket.terminate();
    return this.#stopped;
  }

  #dial(): void {
    const { url, token, deviceId, tls, clock } = this.#o;
    this.#failure = null;
    this.#welcomed = false;
    this.#setStatus({ kind: 'connecting', attempt: this.#redial.attempt, url });
    const socket = this.#o.createSocket(url, {
      headers: {
        Authorization: `Bearer ${token}`,
        'X-Iottly-Device-Id': deviceId,
        'User-Agent': this.#o.userAgent,
      },
      handshakeTimeout: this.#o.dialTimeoutMs,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      followRedirects: false,
      generateMask: zeroMask,
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      rejectUnauthorized: true,
    });
    this.#socket = socket;
    this.#dialTimer = clock.setTimeout(() => {
      this.#fail(LogCode.dialTimeout, `no welcome within ${this.#o.dialTimeoutMs} ms`);
      socket.terminate();
    }, this.#o.dialTimeoutMs);

    socket.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      if (status === 401 || status === 403) {
        this.#fail(LogCode.authRejected, `hub refused the credentials (HTTP ${status})`);
      } else if (status === 404) {
        // Most likely a server.url with the wrong path: say so, or the retries look like an outage.
        this.#fail(
          LogCode.httpError,
          `hub answered the upgrade with HTTP 404: no device endpoint at ${new URL(url).pathname} there; check server.url (the reference hub serves devices at /v1/device)`,
        );
      } else {
        this.#fail(LogCode.httpError, `hub answered the upgrade with HTTP ${status}`);
      }
      res.resume();
      socket.terminate();
    });
    // The TCP (or TLS) socket under the WebSocket, for corking a turn's frames together.
    socket.on('upgrade', (res) => this.#cork?.attach(res.socket));
    socket.on('open', () => {
      this.#setStatus({ kind: 'handshaking', url });
      this.#heartbeat = new Heartbeat({
        ...this.#o.heartbeat,
        clock,
        sendPing: () => socket.ping(),
        onStale: () => {
          this.#fail(
            LogCode.heartbeatTimeout,
            'no traffic from the hub within heartbeat interval + timeout',
          );
          socket.terminate();
        },
      });
      this.#heartbeat.start();
      socket.send(this.#helloFrame());
    });
    socket.on('message', (data, isBinary) => {
      this.#heartbeat?.touch();
      if (isBinary) this.#events?.onBytes(binaryData(data));
      else this.#events?.onFrame(frameText(data, false));
    });
    socket.on('ping', () => this.#heartbeat?.touch());
    socket.on('pong', () => this.#heartbeat?.touch());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (isTlsError(err.code ?? '')) this.#fail(LogCode.tlsError, `TLS: ${err.message}`);
      else this.#fail(err.code ?? LogCode.socketError, err.message);
    });
    socket.on('close', (code, reason) => this.#onClose(socket, code, reason.toString()));
  }

  /** Keeps the first cause of a failed link: later events are its consequences. */
  #fail(code: string, message: string): void {
    this.#failure ??= { code, message };
  }

  #onClose(socket: WebSocket, code: number, reason: string): void {
    if (socket !== this.#socket) return;
    this.#socket = null;
    this.#cork?.attach(null);
    this.#heartbeat?.stop();
    this.#heartbeat = null;
    this.#clearDialTimer();
    const wasWelcomed = this.#welcomed;
    this.#welcomed = false;
    if (wasWelcomed) this.#events?.onOffline();

    if (this.#stopped) {
      this.#finishStop();
      return;
    }

    const failure = this.#failure ?? {
      code: closedLogCode(code),
      message: reason || `closed with code ${code}`,
    };
    const { backoff, random, logger } = this.#o;
    const restarting = code === CloseCode.goingAway && wasWelcomed && !this.#failure;
    const status = this.#redial.schedule(
      failure,
      {
        wasWelcomed,
        ...(restarting ? { delayMs: restartDelay(backoff, random) } : {}),
        log: () => {
          if (restarting)
            logger.info({ code: LogCode.hubRestart }, 'hub is restarting (close 1001)');
          else
            logger.warn({ code: failure.code, closeCode: code }, `link lost: ${failure.message}`);
        },
      },
      () => this.#dial(),
    );
    this.#setStatus(status);
  }

  #helloFrame(): string {
    return helloFrame(helloPayload(this.#events));
  }

  #finishStop(): void {
    if (this.#closeTimer) this.#o.clock.clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    this.#setStatus({ kind: 'stopped' });
    this.#resolveStopped?.();
  }

  #setStatus(status: ConnectionStatus): void {
    this.#status = status;
    this.#events?.onStatus(status);
  }

  #clearDialTimer(): void {
    if (this.#dialTimer) this.#o.clock.clearTimeout(this.#dialTimer);
    this.#dialTimer = null;
  }
}

/**
 * The masking key of every frame the agent sends: all zeros, so ws neither copies nor XORs the
 * payload (a sixth of the agent's CPU for raw command output, issue 15). Masking exists to keep
 * script in a browser from steering what a proxy sees on the wire (RFC 6455 §10.3); the agent is
 * no browser and sends only its own frames, and hubs do not look at the key.
 */
export function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** An error code that says the TLS handshake failed (an untrusted or invalid certificate). */
export function isTlsError(code: string): boolean {
  return (
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code)
  );
}
