import type { Logger } from 'pino';
import { MAX_FRAME_BYTES } from '../protocol/message.js';
import { deviceTopic, parseTopic, type DevicePresence } from '../protocol/mqtt-topics.js';
import type { Clock, TimerHandle } from '../time/clock.js';
import type { BackoffOptions, RandomSource } from '../time/backoff.js';
import { isTlsError, type TlsMaterial } from './connection.js';
import type { ConnectionStatus } from './connection-status.js';
import { helloFrame, helloPayload, type Link, type LinkEvents } from './link.js';
import type { OutboxSink } from './outbox.js';
import { PublishWindow } from './publish-window.js';
import { Redial, type LinkFailure } from './redial.js';
import { LogCode } from '../log/log-codes.js';
import { MqttClient, type MqttClientOptions } from './mqtt/mqtt-client.js';
import { connectMqttSocket } from './mqtt/mqtt-socket.js';
import type { Properties } from './mqtt/properties.js';
import { MqttError, MqttErrorCode, type MqttErrorCodeValue } from './mqtt/reason-codes.js';

/**
 * The agent's link over an MQTT 5 broker (docs/protocol.md, "MQTT 5 transport"), the same state
 * machine as the WebSocket Connection with one more loop: the broker connection and the hub's
 * welcome are separate, so a missing welcome is retried on the same broker connection.
 *
 *     idle ─start()─▶ connecting ─CONNACK─▶ handshaking ─welcome─▶ online ─welcome─▶ online
 *                        ▲   │                 │    ▲                │     (rewound to last_seq)
 *                        │   │   no welcome ───┘    └─ timer ─ backoff (hello again, same link)
 *                        │   └──── close / error / keep-alive timeout / refusal ──────┤
 *                        └──── timer ──── backoff ◀────────────────────────────────────┘
 *     any ─stop()─▶ stopping ─presence offline, DISCONNECT (or close timer → destroy)─▶ stopped
 *
 * One MqttClient (src/agent/mqtt/, the agent's own: it never reconnects by itself) exists at a
 * time and a new one is made only from the back-off timer, so there is never more than one dial
 * in flight. The attempt counter resets only on `welcome`.
 *
 * What the outbox sees: `send` publishes on `up` with QoS 1 and calls `written` when the broker's
 * PUBACK arrives (the broker has taken the message; a refusal ends the link, and the spool sends
 * it again after the next welcome). `bufferedAmount` is the bytes not yet on the network: what
 * the client's stream still holds, plus publishes waiting for a place within the broker's
 * Receive Maximum (PublishWindow). A publish written and not yet PUBACKed is not counted: the
 * outbox's own window (hub acks) bounds those.
 */
export type MqttClientFactory = (
  url: string,
  options: MqttClientOptions,
) => MqttClient | Promise<MqttClient>;

/**
 * The agent's own client over TCP or TLS, connecting at once. Not MQTT.js: loading it alone
 * costs an idle agent more private memory than the whole WebSocket path (README, Dependencies).
 */
export const createMqttClient: MqttClientFactory = (url, options) => {
  const client = new MqttClient(url, options, connectMqttSocket);
  client.connect();
  return client;
};

export interface MqttLinkOptions {
  url: string;
  deviceId: string;
  token: string;
  tls: TlsMaterial;
  /** `intervalMs` is the MQTT keep-alive (rounded up to seconds); the broker ends a link silent 1.5× as long. */
  heartbeat: { intervalMs: number };
  /** How long the broker keeps the session (subscription, queued commands) while we are away. */
  sessionExpiryS: number;
  backoff: BackoffOptions;
  /** Longest wait from starting a dial to the CONNACK, and from each hello to the `welcome`. */
  dialTimeoutMs: number;
  /** How long a graceful stop may take before the connection is destroyed. */
  closeTimeoutMs: number;
  clock: Clock;
  random: RandomSource;
  createMqttClient: MqttClientFactory;
  logger: Logger;
}

/**
 * The largest packet the agent accepts (the CONNECT's maximum packet size): a frame at the
 * protocol's bound plus room for the PUBLISH header, topic and properties. The broker never
 * delivers a larger one; a payload over MAX_FRAME_BYTES within it is refused here.
 */
export const MAX_PACKET_BYTES = MAX_FRAME_BYTES + 16 * 1024;

/** The largest keep-alive a CONNECT can carry (two bytes of seconds). */
const MAX_KEEPALIVE_S = 65_535;

/** MQTT 5's Receive Maximum when the CONNACK gives none. */
const MQTT_RECEIVE_MAXIMUM = 65_535;

/** Every frame is UTF-8 JSON (payload format indicator 1). */
const FRAME_PROPERTIES: Properties = {
  payloadFormatIndicator: true,
  contentType: 'application/json',
};

/** MQTT 5 CONNACK reasons that refuse the credentials: bad user name or password, not authorized. */
const CREDENTIALS_REFUSED: ReadonlySet<number> = new Set([0x86, 0x87]);

/** The log code of each MqttClient error that ends a connection. */
const CLIENT_ERROR_LOG_CODES: Readonly<Record<MqttErrorCodeValue, string>> = {
  [MqttErrorCode.refused]: LogCode.brokerRefused,
  [MqttErrorCode.protocolError]: LogCode.brokerProtocolError,
  [MqttErrorCode.packetTooLarge]: LogCode.brokerProtocolError,
  [MqttErrorCode.keepAliveTimeout]: LogCode.heartbeatTimeout,
  [MqttErrorCode.connectTimeout]: LogCode.dialTimeout,
  [MqttErrorCode.publishTooLarge]: LogCode.brokerRefused,
  [MqttErrorCode.connectionClosed]: LogCode.brokerClosed,
};

export class MqttLink implements Link {
  /** Everything stays JSON over MQTT (docs/protocol.md, raw bytes). */
  readonly carriesBytes = false;
  readonly #o: MqttLinkOptions;
  readonly #upTopic: string;
  readonly #downTopic: string;
  readonly #presenceTopic: string;
  #status: ConnectionStatus = { kind: 'idle' };
  #events: LinkEvents | null = null;
  #client: MqttClient | null = null;
  /** The current client has had its CONNACK (and not closed since). */
  #connected = false;
  /** The current connection's publishes, within the broker's Receive Maximum. */
  #window: PublishWindow | null = null;
  /** The hello payload of the current broker connection, for its presence messages. */
  #hello: Record<string, unknown> = {};
  readonly #redial: Redial;
  #failure: LinkFailure | null = null;
  #welcomed = false;
  /** Bumped at every welcome and offline: a sink of an earlier one sends nothing. */
  #sinkGeneration = 0;
  #dialTimer: TimerHandle | null = null;
  #closeTimer: TimerHandle | null = null;
  #stopped: Promise<void> | null = null;
  #resolveStopped: (() => void) | null = null;

  constructor(options: MqttLinkOptions) {
    this.#o = options;
    this.#redial = new Redial(options);
    this.#upTopic = deviceTopic(options.deviceId, 'up');
    this.#downTopic = deviceTopic(options.deviceId, 'down');
    this.#presenceTopic = deviceTopic(options.deviceId, 'presence');
  }

  get status(): ConnectionStatus {
    return this.#status;
  }

  start(events: LinkEvents): void {
    if (this.#status.kind !== 'idle')
      throw new Error(`cannot start a link that is ${this.#status.kind}`);
    this.#events = events;
    this.#dial();
  }

  /**
   * The hub accepted our hello: the link goes online. A welcome on a link already online (a new
   * hub owns the device) rewinds: the outbox is detached and attached again to a new sink, so it
   * sends again everything after the new welcome's `last_seq`.
   */
  markWelcomed(): void {
    const client = this.#client;
    if (!client || !this.#connected || this.#stopped) return;
    if (this.#welcomed) {
      this.#o.logger.info(
        { code: LogCode.linkRewound },
        'welcomed again on an online link (another hub took the device over): resending from its last_seq',
      );
      this.#goOffline();
      this.#welcomed = true;
      this.#events?.onOnline(this.#sink(client));
      return;
    }
    this.#clearDialTimer();
    this.#redial.cancel(); // a welcome that comes while we wait to say hello again is as good
    this.#welcomed = true;
    this.#redial.welcomed();
    this.#setStatus({
      kind: 'online',
      since: this.#o.clock.date().toISOString(),
      url: this.#o.url,
    });
    this.#events?.onOnline(this.#sink(client));
  }

  /**
   * Says hello again (the hub answers with a fresh welcome). Online too: the link goes back to
   * handshaking, so nothing is sent until that welcome says where to resume.
   */
  sendHello(): void {
    const client = this.#client;
    if (!client || !this.#connected || this.#stopped) return;
    if (this.#welcomed) this.#goOffline();
    this.#redial.cancel();
    this.#handshake(client);
  }

  /**
   * The welcome cannot be used (a broken hub): the link does not go online (or goes offline),
   * and says hello again after the back-off on the same broker connection. The broker is not
   * at fault, so its connection is kept.
   */
  refuseWelcome(code: string, message: string): void {
    if (!this.#client || !this.#connected || this.#stopped) return;
    if (this.#welcomed) this.#goOffline();
    this.#helloBackoff(code, message);
  }

  /**
   * Publishes the presence `online: false` (a graceful end: the broker does not publish the
   * will), disconnects and stops reconnecting. Resolves once the connection is closed, or
   * destroyed after `closeTimeoutMs`.
   */
  stop(): Promise<void> {
    if (this.#stopped) return this.#stopped;
    this.#stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
    this.#redial.cancel();
    this.#clearDialTimer();
    const client = this.#client;
    if (!client) {
      this.#finishStop();
      return this.#stopped;
    }
    if (this.#welcomed) this.#goOffline(); // nothing more to send on a closing link
    this.#setStatus({ kind: 'stopping' });
    this.#closeTimer = this.#o.clock.setTimeout(() => {
      this.#closeTimer = null;
      client.destroy();
      this.#finishStop(); // bounded even if the stream never says it closed
    }, this.#o.closeTimeoutMs);
    if (this.#connected) {
      client.publish(
        this.#presenceTopic,
        this.#presence(false),
        { qos: 1, retain: true, properties: FRAME_PROPERTIES },
        () => client.end(false),
      );
    } else client.end(true);
    return this.#stopped;
  }

  #dial(): void {
    const { url, deviceId, token, tls } = this.#o;
    this.#failure = null;
    this.#welcomed = false;
    this.#connected = false;
    this.#window = null;
    this.#setStatus({ kind: 'connecting', attempt: this.#redial.attempt, url });
    this.#hello = helloPayload(this.#events);
    const made = this.#makeClient(url, {
      clientId: deviceId,
      username: deviceId,
      password: token,
      clean: false, // subscribed again at every CONNACK all the same, below
      connectTimeout: this.#o.dialTimeoutMs,
      keepalive: Math.min(MAX_KEEPALIVE_S, Math.ceil(this.#o.heartbeat.intervalMs / 1000)),
      properties: {
        sessionExpiryInterval: this.#o.sessionExpiryS,
        maximumPacketSize: MAX_PACKET_BYTES,
      },
      will: {
        topic: this.#presenceTopic,
        payload: Buffer.from(this.#presence(false)),
        qos: 1,
        retain: true,
        properties: FRAME_PROPERTIES,
      },
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      clock: this.#o.clock,
    });
    if (!(made instanceof Promise)) {
      this.#attach(made);
      return;
    }
    made.then(
      (client) => {
        if (this.#stopped) client.end(true);
        else this.#attach(client);
      },
      (err: Error) => {
        if (this.#stopped) return;
        this.#fail(LogCode.socketError, `cannot make the MQTT client: ${err.message}`);
        this.#lost(false);
      },
    );
  }

  /** The factory's client; a factory that throws (a URL it cannot use) fails like a rejection. */
  #makeClient(url: string, options: MqttClientOptions): MqttClient | Promise<MqttClient> {
    try {
      return this.#o.createMqttClient(url, options);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Takes a new client as the current one: its dial timer and its events. */
  #attach(client: MqttClient): void {
    const { clock } = this.#o;
    this.#client = client;
    this.#dialTimer = clock.setTimeout(() => {
      this.#dialTimer = null;
      this.#fail(LogCode.dialTimeout, `no CONNACK within ${this.#o.dialTimeoutMs} ms`);
      client.end(true);
    }, this.#o.dialTimeoutMs);

    client.on('connect', (connack) => {
      if (client !== this.#client) return;
      this.#connected = true;
      this.#window = new PublishWindow(
        (publish, acked) =>
          client.publish(
            publish.topic,
            publish.payload,
            { qos: 1, retain: publish.retain, properties: FRAME_PROPERTIES },
            (err) => acked(err ?? undefined),
          ),
        connack.properties?.receiveMaximum ?? MQTT_RECEIVE_MAXIMUM,
      );
      this.#clearDialTimer();
      // Hello waits for the SUBACK: the broker writes what it kept for a resumed session
      // (commands sent while the agent was away) right after the CONNACK, so by the SUBACK every
      // such command has reached the router, and the hello's `open_requests` lists it. A hub can
      // then take a request missing from the hello as lost, as over WebSocket.
      client.subscribe(this.#downTopic, { qos: 1 }, (err) => {
        if (client !== this.#client) return;
        if (err)
          this.#refused(
            client,
            `the broker refused the subscription to ${this.#downTopic}: ${err.message}`,
          );
        else this.#handshake(client, { announce: true });
      });
    });
    client.on('message', (topic, payload) => {
      if (client !== this.#client) return;
      const parsed = parseTopic(topic);
      if (parsed?.kind !== 'down' || parsed.deviceId !== this.#o.deviceId) return; // not ours to read
      const text = this.#frameText(payload);
      if (text !== null) this.#events?.onFrame(text);
    });
    client.on('disconnect', (packet) => {
      if (client !== this.#client) return;
      const reason = packet.reasonCode ?? 0;
      this.#fail(
        LogCode.brokerDisconnected,
        `the broker disconnected the agent (reason 0x${reason.toString(16)}${packet.properties?.reasonString ? `: ${packet.properties.reasonString}` : ''})`,
      );
    });
    client.on('error', (err) => {
      // Always listened to (an 'error' without a listener would throw), read only while current.
      if (client === this.#client) this.#onError(err as Error & { code?: string });
    });
    client.on('close', () => this.#onClose(client));
  }

  /**
   * Sends hello on `up` (built now: the store and open requests may have changed) and waits
   * `dialTimeoutMs` for the welcome. `announce`: after a CONNACK, the retained presence first.
   */
  #handshake(client: MqttClient, { announce = false } = {}): void {
    this.#setStatus({ kind: 'handshaking', url: this.#o.url });
    this.#hello = helloPayload(this.#events);
    if (announce) this.#publish(client, this.#presenceTopic, this.#presence(true), true);
    this.#publish(client, this.#upTopic, helloFrame(this.#hello), false);
    this.#clearDialTimer();
    this.#dialTimer = this.#o.clock.setTimeout(() => {
      this.#dialTimer = null;
      this.#helloBackoff(LogCode.dialTimeout, `no welcome within ${this.#o.dialTimeoutMs} ms`);
    }, this.#o.dialTimeoutMs);
  }

  /** No usable welcome: back off, then say hello again on the same broker connection. */
  #helloBackoff(code: string, message: string): void {
    this.#clearDialTimer();
    const status = this.#redial.schedule(
      { code, message },
      {
        wasWelcomed: false,
        log: () => this.#o.logger.warn({ code }, `no hub took the device: ${message}`),
      },
      () => {
        const client = this.#client;
        if (client && this.#connected && !this.#stopped) this.#handshake(client);
      },
    );
    this.#setStatus(status);
  }

  /** A sink for the outbox on this client, inert once the link goes offline or is rewound. */
  #sink(client: MqttClient): OutboxSink {
    const generation = ++this.#sinkGeneration;
    const window = this.#window;
    const stale = (): boolean => generation !== this.#sinkGeneration;
    return {
      send: (frame, written) => {
        if (stale()) return;
        // Binary frames are never made for this link (it does not carry bytes); one spooled on an
        // earlier WebSocket link is given up rather than published as something that is not JSON.
        if (typeof frame !== 'string') written();
        else this.#publish(client, this.#upTopic, frame, false, written, stale);
      },
      bufferedAmount: () => client.bufferedAmount + (window?.heldBytes ?? 0),
    };
  }

  /** QoS 1 publish; a refusal by the broker (a PUBACK reason ≥ 0x80) ends the link. */
  #publish(
    client: MqttClient,
    topic: string,
    payload: string,
    retain: boolean,
    written?: () => void,
    stale?: () => boolean,
  ): void {
    if (client !== this.#client || !this.#window) return;
    this.#window.submit({
      topic,
      payload,
      retain,
      stale,
      acked: (err) => {
        // A publish cut off by the connection's end is the close's business, not a refusal.
        if (err instanceof MqttError && err.code !== MqttErrorCode.connectionClosed)
          this.#refused(client, `the broker refused a publish on ${topic}: ${err.message}`);
        written?.();
      },
    });
  }

  #refused(client: MqttClient, message: string): void {
    if (client !== this.#client) return;
    this.#fail(LogCode.brokerRefused, message);
    // Offline now, not at the close: the outbox must not pour its backlog into a closing client.
    if (this.#welcomed) this.#goOffline();
    client.end(true);
  }

  /** A payload over the frame bound or not UTF-8 is refused here, before anything parses it. */
  #frameText(payload: Buffer): string | null {
    if (payload.length > MAX_FRAME_BYTES) {
      this.#o.logger.warn(
        { code: LogCode.frameRefused, bytes: payload.length },
        `refused a message on ${this.#downTopic}: ${payload.length} bytes, over the ${MAX_FRAME_BYTES}-byte frame limit`,
      );
      return null;
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(payload);
    } catch {
      this.#o.logger.warn(
        { code: LogCode.frameRefused, bytes: payload.length },
        `refused a message on ${this.#downTopic}: not UTF-8 text`,
      );
      return null;
    }
  }

  #onError(err: Error & { code?: string }): void {
    const { code } = err;
    if (err instanceof MqttError) {
      if (err.reasonCode !== undefined && CREDENTIALS_REFUSED.has(err.reasonCode))
        this.#fail(LogCode.authRejected, `broker refused the credentials (${err.message})`);
      else this.#fail(CLIENT_ERROR_LOG_CODES[err.code], err.message);
    } else if (code !== undefined && isTlsError(code)) {
      this.#fail(LogCode.tlsError, `TLS: ${err.message}`);
    } else this.#fail(code ?? LogCode.socketError, err.message); // an errno name: ECONNREFUSED…
  }

  /** Keeps the first cause of a failed link: later events are its consequences. */
  #fail(code: string, message: string): void {
    this.#failure ??= { code, message };
  }

  #onClose(client: MqttClient): void {
    if (client !== this.#client) return;
    this.#client = null;
    this.#connected = false;
    this.#clearDialTimer();
    this.#redial.cancel();
    const wasWelcomed = this.#welcomed;
    if (wasWelcomed) this.#goOffline();
    this.#lost(wasWelcomed);
  }

  /** The broker connection is gone (or was never made): stop here, or dial again later. */
  #lost(wasWelcomed: boolean): void {
    if (this.#stopped) {
      this.#finishStop();
      return;
    }

    const failure = this.#failure ?? { code: LogCode.brokerClosed, message: 'connection closed' };
    const status = this.#redial.schedule(
      failure,
      {
        wasWelcomed,
        log: () => this.#o.logger.warn({ code: failure.code }, `link lost: ${failure.message}`),
      },
      () => this.#dial(),
    );
    this.#setStatus(status);
  }

  /** The outbox stops sending on this link: its sink goes inert. */
  #goOffline(): void {
    this.#welcomed = false;
    this.#sinkGeneration++;
    this.#events?.onOffline();
  }

  #presence(online: boolean): string {
    const presence: DevicePresence = {
      online,
      since: this.#o.clock.date().toISOString(),
      hello: this.#hello,
    };
    return JSON.stringify(presence);
  }

  #finishStop(): void {
    if (this.#status.kind === 'stopped') return;
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
