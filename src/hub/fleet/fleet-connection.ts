import { connect, type IClientOptions, type ISubscriptionGrant, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { LogCode } from '../../log/log-codes.js';
import { MAX_FRAME_BYTES } from '../../protocol/message.js';
import { EVERY_HUB, WEBHOOKS_TOPIC, everyDevice, hubTopic } from '../../protocol/mqtt-topics.js';
import {
  authRejectedDelay,
  backoffDelay,
  type BackoffOptions,
  type RandomSource,
} from '../../time/backoff.js';
import { isoNow, type Clock, type TimerHandle } from '../../time/clock.js';

/**
 * The hub's own connection to the MQTT broker, one dial at a time:
 *
 *     idle ─start()─▶ connecting ─CONNACK, SUBACK─▶ online ─link lost─▶ backoff ─delay─▶ connecting
 *                        └──── refused, timed out, closed ─▶ backoff                   ▲
 *     any ─stop()─▶ stopped (the client ends gracefully, forced after `endTimeoutMs`)  │
 *                                                       └───────── next attempt ───────┘
 *
 * Not a clean session: while the hub is away (a broker restart, a network blip) the broker queues
 * what it misses for HUB_SESSION_EXPIRY_S, above all what an agent sends again after its owner's
 * welcome, and hands it over when the hub is back; with a clean session the clients of a hub
 * that came back after the owner would miss those seqs for good, since the owner acknowledges
 * them. Otherwise the hub keeps nothing on the broker but its retained messages, and learns the
 * fleet again from the retained ones at every connect. Its will clears its presence (an empty
 * retained payload on `iottly/v1/hubs/{hub}`), so the other hubs take its devices over when it
 * dies. MQTT.js's own reconnect is off: the project's back-off (src/time/backoff.ts) decides.
 */
export type CreateMqttClient = (url: string, options: IClientOptions) => MqttClient;

export const defaultCreateMqttClient: CreateMqttClient = (url, options) => connect(url, options);

export const DEFAULT_FLEET_BACKOFF: BackoffOptions = { initialDelayMs: 500, maxDelayMs: 15_000 };
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_END_TIMEOUT_MS = 2_000;
/**
 * How long the broker keeps a hub's session (its subscriptions, what it missed) once its
 * connection ends: a broker restart or a blip, not a dead hub's backlog for long.
 */
export const HUB_SESSION_EXPIRY_S = 60;
/** Keep-alive towards the broker: it ends a silent hub at 1.5 × this and publishes the will. */
export const DEFAULT_KEEPALIVE_S = 15;
/**
 * Largest packet the hub takes from the broker: two frames' worth, so that a frame just over
 * MAX_FRAME_BYTES still arrives and is refused by name (logged) rather than dropped unseen.
 */
export const MAX_INCOMING_PACKET_BYTES = 2 * MAX_FRAME_BYTES;

/**
 * What every hub reads, in the order their retained messages should come in. Devices' `up`
 * topics are not among them: a hub reads only the devices it owns or relays (UpReading).
 */
export const HUB_SUBSCRIPTIONS = [
  EVERY_HUB,
  WEBHOOKS_TOPIC,
  everyDevice('cursor'),
  everyDevice('presence'),
];

/** Topics per SUBSCRIBE packet: well under any broker's packet size limit. */
export const SUBSCRIBE_BATCH = 500;

/** CONNACK reason codes of refused credentials (MQTT 5: bad user name or password, not authorized). */
const BAD_CREDENTIALS = 0x86;
const NOT_AUTHORIZED = 0x87;

/** Every payload is a JSON frame (MQTT 5 properties, docs/protocol.md). */
const JSON_PROPERTIES = { payloadFormatIndicator: true, contentType: 'application/json' };

export type FleetConnectionStatus =
  | { kind: 'idle' }
  | { kind: 'connecting'; attempt: number }
  | { kind: 'online'; since: string }
  | { kind: 'backoff'; attempt: number; delayMs: number }
  | { kind: 'stopped' };

export interface BrokerSettings {
  /** mqtt://, mqtts://, ws:// or wss:// */
  url: string;
  username?: string;
  password?: string;
  /** A private CA for mqtts:// (PEM). */
  ca?: Buffer;
}

export interface FleetConnectionOptions extends BrokerSettings {
  hubId: string;
  clock: Clock;
  random: RandomSource;
  logger: Logger;
  createClient?: CreateMqttClient;
  backoff?: BackoffOptions;
  connectTimeoutMs?: number;
  endTimeoutMs?: number;
  /** Connected and subscribed; the hub's presence is published. */
  onOnline: () => void;
  /**
   * More topics to subscribe to before the connection counts as online (a hub's devices' `up`
   * it read on the last connection): read again before anyone is told the hub is back.
   */
  resumeTopics?: () => readonly string[];
  onMessage: (topic: string, payload: Buffer) => void;
  /** The connection that was online is lost (not called on stop). */
  onOffline: () => void;
}

export class FleetConnection {
  readonly #o: FleetConnectionOptions;
  readonly #createClient: CreateMqttClient;
  #status: FleetConnectionStatus = { kind: 'idle' };
  #client: MqttClient | null = null;
  #timer: TimerHandle | null = null;
  #attempt = 0;
  #stopping: Promise<void> | null = null;

  constructor(options: FleetConnectionOptions) {
    this.#o = options;
    this.#createClient = options.createClient ?? defaultCreateMqttClient;
  }

  get status(): FleetConnectionStatus {
    return this.#status;
  }

  get online(): boolean {
    return this.#status.kind === 'online';
  }

  start(): void {
    if (this.#status.kind !== 'idle') return;
    this.#dial();
  }

  /**
   * Publishes `payload` (QoS 1) while online; false when not (nothing is queued for a later
   * connection: what the hub sends is about the present).
   */
  publish(topic: string, payload: string, retain = false, qos: 0 | 1 = 1): boolean {
    const client = this.#client;
    if (!client || this.#status.kind !== 'online') return false;
    client.publish(topic, payload, { qos, retain, properties: JSON_PROPERTIES }, (err) => {
      if (err) this.#o.logger.debug({ err: err.message, topic }, 'publish failed');
    });
    return true;
  }

  /**
   * Subscribes to `topics` (QoS 1) on the current connection: true once the broker granted them
   * all, false when it refused one or the connection is not online (or was lost meanwhile).
   */
  async subscribe(topics: readonly string[]): Promise<boolean> {
    const client = this.#client;
    if (!client || this.#status.kind !== 'online') return false;
    try {
      return (await this.#subscribeAll(client, topics)) && this.#client === client;
    } catch (err) {
      this.#o.logger.debug({ err: (err as Error).message }, 'subscribing failed');
      return false;
    }
  }

  /** Unsubscribes from `topics` on the current connection, if there is one (best effort). */
  async unsubscribe(topics: readonly string[]): Promise<void> {
    const client = this.#client;
    if (!client || this.#status.kind !== 'online') return;
    try {
      await client.unsubscribeAsync([...topics]);
    } catch (err) {
      this.#o.logger.debug({ err: (err as Error).message }, 'unsubscribing failed');
    }
  }

  /** Bytes written to the broker connection and not yet taken by the socket. */
  get bufferedBytes(): number {
    return this.#client?.stream?.writableLength ?? 0;
  }

  /** Ends the connection gracefully (what was published is flushed), bounded; idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const wasOnline = this.#status.kind === 'online';
    this.#setStatus({ kind: 'stopped' });
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    const client = this.#client;
    this.#client = null;
    if (!client) return;
    if (!wasOnline) {
      client.end(true); // a dial in flight has nothing to flush
      return;
    }
    let timer: TimerHandle | null = null;
    const forced = new Promise<void>((resolve) => {
      timer = this.#o.clock.setTimeout(resolve, this.#o.endTimeoutMs ?? DEFAULT_END_TIMEOUT_MS);
    });
    await Promise.race([client.endAsync().catch(() => {}), forced]);
    if (timer) this.#o.clock.clearTimeout(timer);
    client.end(true);
  }

  #dial(): void {
    if (this.#status.kind === 'stopped') return;
    this.#setStatus({ kind: 'connecting', attempt: this.#attempt });
    const { hubId } = this.#o;
    const client = this.#createClient(this.#o.url, {
      protocolVersion: 5,
      clientId: hubId,
      clean: false,
      reconnectPeriod: 0,
      keepalive: DEFAULT_KEEPALIVE_S,
      connectTimeout: this.#o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      resubscribe: false,
      queueQoSZero: false,
      ...(this.#o.username !== undefined ? { username: this.#o.username } : {}),
      ...(this.#o.password !== undefined ? { password: this.#o.password } : {}),
      ...(this.#o.ca !== undefined ? { ca: this.#o.ca } : {}),
      will: { topic: hubTopic(hubId), payload: Buffer.alloc(0), qos: 1, retain: true },
      properties: {
        maximumPacketSize: MAX_INCOMING_PACKET_BYTES,
        sessionExpiryInterval: HUB_SESSION_EXPIRY_S,
      },
    });
    this.#client = client;
    let wasOnline = false;
    let closed = false;
    let refused = false;
    client.on('connect', () => {
      void this.#subscribe(client).then((ok) => {
        if (!ok || this.#client !== client || this.#status.kind === 'stopped') return;
        wasOnline = true;
        this.#attempt = 0;
        this.#setStatus({ kind: 'online', since: isoNow(this.#o.clock) });
        const presence = JSON.stringify({ online: true, since: isoNow(this.#o.clock) });
        this.publish(hubTopic(hubId), presence, true);
        this.#o.onOnline();
      });
    });
    client.on('message', (topic, payload) => {
      if (this.#client === client) this.#o.onMessage(topic, payload);
    });
    client.on('error', (err) => {
      const reason = (err as { code?: unknown }).code;
      if (reason === BAD_CREDENTIALS || reason === NOT_AUTHORIZED) {
        refused = true;
        this.#o.logger.error(
          { code: LogCode.brokerLinkFailed, err: err.message },
          'the MQTT broker refused the hub (check --broker-username, --broker-password-file)',
        );
      } else
        this.#o.logger.warn(
          { code: LogCode.brokerLinkFailed, err: err.message },
          'MQTT broker connection error',
        );
    });
    client.on('close', () => {
      if (closed) return;
      closed = true;
      if (this.#client !== client) return;
      this.#client = null;
      client.end(true);
      if (wasOnline) {
        this.#o.logger.warn({ code: LogCode.brokerLinkFailed }, 'MQTT broker connection lost');
        this.#o.onOffline();
      }
      this.#scheduleRedial(refused);
    });
  }

  /** What every hub reads, and the devices it read before (resumeTopics), or the dial ends. */
  async #subscribe(client: MqttClient): Promise<boolean> {
    try {
      const resume = this.#o.resumeTopics?.() ?? [];
      if (
        (await this.#subscribeAll(client, HUB_SUBSCRIPTIONS)) &&
        (await this.#subscribeAll(client, resume))
      )
        return true;
    } catch (err) {
      this.#o.logger.warn(
        { code: LogCode.brokerLinkFailed, err: (err as Error).message },
        'subscribing failed',
      );
    }
    client.end(true);
    return false;
  }

  /**
   * Subscribes to `topics` (QoS 1, in order, SUBSCRIBE_BATCH a packet): true when the broker
   * granted them all; a refusal is logged.
   */
  async #subscribeAll(client: MqttClient, topics: readonly string[]): Promise<boolean> {
    const grants: ISubscriptionGrant[] = [];
    for (let i = 0; i < topics.length; i += SUBSCRIBE_BATCH)
      grants.push(
        ...(await client.subscribeAsync([...topics.slice(i, i + SUBSCRIBE_BATCH)], { qos: 1 })),
      );
    const refused = grants.filter((grant) => grant.qos > 2);
    if (refused.length === 0) return true;
    this.#o.logger.error(
      { code: LogCode.brokerLinkFailed, topics: refused.slice(0, 5).map((g) => g.topic) },
      'the MQTT broker refused the hub a subscription (its ACL must let hubs read iottly/v1/#)',
    );
    return false;
  }

  /** Credentials the MQTT broker refused get the longest delay: retrying sooner cannot help. */
  #scheduleRedial(refused: boolean): void {
    if (this.#status.kind === 'stopped') return;
    const attempt = this.#attempt++;
    const backoff = this.#o.backoff ?? DEFAULT_FLEET_BACKOFF;
    const delayMs = refused
      ? authRejectedDelay(backoff, this.#o.random)
      : backoffDelay(attempt, backoff, this.#o.random);
    this.#setStatus({ kind: 'backoff', attempt, delayMs });
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = null;
      this.#dial();
    }, delayMs);
  }

  #setStatus(status: FleetConnectionStatus): void {
    this.#status = status;
    this.#o.logger.debug({ status }, 'MQTT broker connection status');
  }
}
