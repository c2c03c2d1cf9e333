import type { Logger } from 'pino';
import { ErrorCode } from '../protocol/error-codes.js';
import { Channel, errorMessage, type AgentMessage } from '../protocol/message.js';
import type { FrameError } from '../protocol/parse.js';
import { ackPayload, errorPayload, welcomePayload } from '../protocol/to-agent.js';
import { MAX_OPEN_REQUESTS } from '../protocol/to-hub.js';
import { MAX_SEQ_BASE } from '../protocol/seq-range.js';
import type { Clock } from '../time/clock.js';
import type { Inventory } from './inventory.js';
import type { Link } from './link.js';
import type { DeliveryOutbox, DeliveryStats, OutboundBytes, Outbox, OutboxSink } from './outbox.js';
import { BYTES_CAPABILITY } from '../protocol/byte-frame.js';
import { Router } from './router.js';
import { SessionKinds, type SessionRegistry } from './session-kinds.js';
import { ChangedOnly, describeStatus, type ConnectionStatus } from './connection-status.js';
import { LogCode } from '../log/log-codes.js';

/**
 * The agent: one link, one outbox, one router, and the features (telemetry, commands, local
 * apps, …) that plug into them. The link and the outbox are handed in (src/roots/agent-root.ts
 * builds them); features never see the socket: they receive messages through router handlers
 * and send through `emit`, which stamps `channel` and `ts` and queues.
 */
export interface AgentContext {
  readonly deviceId: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly outbox: Outbox;
  readonly router: Router;
  /** Sessions of every kind: a feature serves a kind and tracks its sessions' follow-ups. */
  readonly sessions: SessionRegistry;
  /** `channel` null: none (an app's message sent without one). */
  emit(
    type: string,
    channel: string | null,
    payload: Record<string, unknown>,
    requestId?: string,
  ): void;
  /**
   * Whether the current link speaks binary frames (the hub's welcome said `bytes: true`). A
   * request that names a `stream` number may then be answered with `emitBytes`.
   */
  speaksBytes(): boolean;
  /** Queues raw output bytes as a binary frame, in order with `emit`ted messages. */
  emitBytes(frame: OutboundBytes): void;
  status(): ConnectionStatus;
  onStatus(listener: (status: ConnectionStatus) => void): () => void;
}

export interface Feature {
  readonly name: string;
  /** Strings announced in `hello.capabilities`, e.g. "telemetry:cpu" or "commands". */
  capabilities(): string[];
  /**
   * The hub request_ids of the requests the feature holds open now (received, final reply not
   * yet emitted), announced in `hello.open_requests`: the hub fails the others it had forwarded.
   */
  openRequests?(): string[];
  start(context: AgentContext): void | Promise<void>;
  /** Ends everything the feature runs; called once on shutdown, before the link closes. */
  stop(): Promise<void>;
  /**
   * At a fatal error, just before the process exits: ends at once, synchronously, whatever
   * would outlive the process (command process groups), and says how many it ended.
   */
  abort?(): number;
}

export interface AgentOptions {
  deviceId: string;
  version: string;
  inventory: Inventory;
  /** Where every message goes, numbered, until the hub acknowledges it. */
  outbox: DeliveryOutbox;
  /** The link to the hub; the Agent starts it, hands it the hello and takes its frames. */
  link: Link;
  clock: Clock;
  logger: Logger;
}

/** How long shutdown waits for queued messages to reach the socket before closing it. */
const FLUSH_TIMEOUT_MS = 1_000;

export class Agent {
  readonly #o: AgentOptions;
  readonly #features: Feature[];
  readonly #outbox: DeliveryOutbox;
  readonly #router: Router;
  readonly #link: Link;
  readonly #statusListeners = new Set<(status: ConnectionStatus) => void>();
  /** The outbox figures last logged with a status line. */
  readonly #loggedOutbox = new ChangedOnly<DeliveryStats>();
  readonly #context: AgentContext;
  #welcomeLastSeq: number | undefined;
  /** The last welcome said `bytes: true`. */
  #speaksBytes = false;
  #offRecovered: (() => void) | null = null;

  constructor(options: AgentOptions, features: Feature[] = []) {
    this.#o = options;
    this.#features = features;
    this.#outbox = options.outbox;
    this.#link = options.link;
    this.#router = new Router((error) => this.#onBadFrame(error));
    const sessions = new SessionKinds(
      this.#router,
      options.logger,
      (requestId, code, message) =>
        this.emit('error', Channel.errors, { code, message }, requestId),
      () => this.#speaksBytes,
    );
    this.#context = {
      deviceId: options.deviceId,
      clock: options.clock,
      logger: options.logger,
      outbox: this.#outbox,
      router: this.#router,
      sessions,
      emit: (type, channel, payload, requestId) => this.emit(type, channel, payload, requestId),
      speaksBytes: () => this.#speaksBytes,
      emitBytes: (frame) => this.#outbox.enqueueBytes(frame, options.clock.date().getTime()),
      status: () => this.#link.status,
      onStatus: (listener) => {
        this.#statusListeners.add(listener);
        return () => this.#statusListeners.delete(listener);
      },
    };
    this.#registerCoreHandlers();
  }

  get context(): AgentContext {
    return this.#context;
  }

  get status(): ConnectionStatus {
    return this.#link.status;
  }

  /** Opens the store, starts the features, then dials: nothing is sent before it is stored. */
  async start(): Promise<void> {
    this.#outbox.start();
    // What a disk outage cost (an abandoned store, memory drops) is told now, not at the next link.
    this.#offRecovered = this.#outbox.onRecovered(() => {
      if (this.#link.status.kind === 'online') this.#reportDrops();
    });
    for (const feature of this.#features) await feature.start(this.#context);
    this.#link.start({
      hello: () => this.#hello(),
      onFrame: (text) => {
        if (text === null)
          this.#onBadFrame({ code: ErrorCode.invalidJson, message: 'unreadable frame' });
        else this.#router.dispatch(text);
      },
      onBytes: (data) => {
        if (this.#speaksBytes) this.#router.dispatchBytes(data);
        else
          this.#onBadFrame({
            code: ErrorCode.invalidFrame,
            message: 'binary frames were not negotiated on this link',
          });
      },
      onStatus: (status) => this.#onStatus(status),
      onOnline: (sink) => this.#online(sink),
      onOffline: () => this.#outbox.detach(),
    });
  }

  /** At a fatal error: every feature ends at once what would outlive the process. */
  abort(): number {
    return this.#features.reduce((ended, feature) => ended + (feature.abort?.() ?? 0), 0);
  }

  /** Ends features, gives queued messages a moment to leave, then closes the link with 1000. */
  async stop(): Promise<void> {
    const results = await Promise.allSettled(this.#features.map((feature) => feature.stop()));
    for (const [i, result] of results.entries()) {
      if (result.status === 'rejected') {
        this.#o.logger.error(
          { err: result.reason, feature: this.#features[i]?.name },
          'feature failed to stop',
        );
      }
    }
    await this.#flush();
    await this.#link.stop();
    this.#offRecovered?.();
    this.#outbox.close();
  }

  emit(
    type: string,
    channel: string | null,
    payload: Record<string, unknown>,
    requestId?: string,
  ): void {
    const message: AgentMessage = { type, ts: this.#o.clock.date().toISOString(), payload };
    if (channel !== null) message.channel = channel;
    if (requestId !== undefined) message.request_id = requestId;
    this.#outbox.enqueue(message);
  }

  #hello(): Record<string, unknown> {
    const capabilities = this.#features.flatMap((feature) => feature.capabilities());
    if (this.#link.carriesBytes) capabilities.push(BYTES_CAPABILITY);
    // Built when the link opens, after the last link's frames: every request the agent got
    // there is either listed here or has its final reply spooled at a seq up to `seq`.
    const openRequests = this.#features.flatMap((feature) => feature.openRequests?.() ?? []);
    return {
      device_id: this.#o.deviceId,
      agent_version: this.#o.version,
      ...this.#o.inventory,
      capabilities,
      store_id: this.#outbox.storeId,
      open_requests: openRequests.slice(0, MAX_OPEN_REQUESTS),
      seq: this.#outbox.lastSeq,
    };
  }

  #registerCoreHandlers(): void {
    const { logger } = this.#o;
    this.#router.register('welcome', welcomePayload, (payload) => {
      if (payload.device_id !== this.#o.deviceId) {
        logger.error(
          { code: ErrorCode.deviceMismatch, expected: this.#o.deviceId, got: payload.device_id },
          'hub welcomed a different device id; staying connected but check the configuration',
        );
      }
      const resume = this.#outbox.resumePoint(payload.last_seq);
      if (resume.kind === 'invalid') {
        // Acting on it would number past 2^48 and persist that: every write would fail, for good.
        const message = `welcome.last_seq ${payload.last_seq} leaves no room to number on (at most ${MAX_SEQ_BASE})`;
        logger.error({ code: LogCode.hubSeqInvalid, lastSeq: payload.last_seq }, message);
        this.#link.refuseWelcome(LogCode.hubSeqInvalid, message);
        return;
      }
      if (resume.kind === 'rotate' && payload.last_seq !== undefined) {
        // The hub has processed seqs we never recorded: start a new store, and say hello again.
        this.#outbox.rotateStore(payload.last_seq);
        this.#link.sendHello();
        return;
      }
      this.#welcomeLastSeq = payload.last_seq;
      this.#speaksBytes = this.#link.carriesBytes && payload.bytes === true;
      this.#link.markWelcomed();
    });
    this.#router.register('ack', ackPayload, (payload) => this.#outbox.acknowledge(payload.seq));
    this.#router.register('error', errorPayload, (payload, frame) => {
      logger.warn(
        { code: payload.code, request_id: frame.request_id },
        `hub reported an error: ${payload.message}`,
      );
    });
  }

  /** A frame the router could not take: log it and tell the hub, unless it was itself an error. */
  #onBadFrame(error: FrameError): void {
    this.#o.logger.warn(
      { code: error.code, request_id: error.request_id },
      `bad frame from hub: ${error.message}`,
    );
    if (error.type === 'error') return; // never answer an error with an error: that can loop
    const reply = errorMessage(error.code, error.message, error.request_id);
    this.emit(reply.type, Channel.errors, reply.payload, reply.request_id);
  }

  /** Welcomed: resend what the hub has not processed, then report drops since the last link. */
  #online(sink: OutboxSink): void {
    this.#outbox.attach(sink, this.#welcomeLastSeq);
    this.#reportDrops();
  }

  /** Drops not reported yet go upstream in a `status` message. */
  #reportDrops(): void {
    const drops = this.#outbox.takeDropReport();
    if (drops.length === 0) return;
    const outbox = this.#outbox.stats();
    this.#o.logger.warn(
      { code: LogCode.dropReport, drops, outbox },
      'messages were dropped: reporting them upstream',
    );
    this.emit('status', Channel.status, {
      report: 'dropped',
      drops,
      outbox: statusFigures(outbox),
    });
  }

  #onStatus(status: ConnectionStatus): void {
    const level = status.kind === 'backoff' ? 'warn' : 'info';
    const outbox = this.#loggedOutbox.take(this.#outbox.stats());
    this.#o.logger[level](
      { status, ...(outbox ? { outbox } : {}) },
      `connection ${describeStatus(status)}`,
    );
    for (const listener of this.#statusListeners) listener(status);
  }

  async #flush(): Promise<void> {
    if (this.#link.status.kind !== 'online' || !this.#outbox.isBackedUp()) return;
    const { clock } = this.#o;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clock.clearTimeout(timer);
        unsubscribe();
        resolve();
      };
      const timer = clock.setTimeout(done, FLUSH_TIMEOUT_MS);
      const unsubscribe = this.#outbox.onDrain(done);
    });
  }
}

/** The outbox figures a `status` message carries (snake case, as on the wire). */
function statusFigures(stats: DeliveryStats): Record<string, unknown> {
  return {
    depth: stats.depth,
    in_flight: stats.inFlight,
    spool_bytes: stats.spoolBytes,
    dropped: stats.dropped,
    storage: stats.storage,
  };
}
