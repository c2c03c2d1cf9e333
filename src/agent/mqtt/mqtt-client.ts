import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../../time/clock.js';
import { KeepAlive } from './keep-alive.js';
import type { MqttSocket, MqttSocketFactory, MqttTlsOptions } from './mqtt-socket.js';
import {
  decodePacket,
  encodeConnect,
  encodeDisconnect,
  encodePingreq,
  encodePuback,
  encodePublish,
  encodeSubscribe,
  type IncomingPacket,
  type QoS,
} from './packet-codec.js';
import { PacketReader } from './packet-reader.js';
import type { Properties } from './properties.js';
import {
  MalformedPacketError,
  MqttError,
  MqttErrorCode,
  ReasonCode,
  reasonText,
} from './reason-codes.js';

/** What MqttLink states in its CONNECT, and the clock for the client's timers. */
export interface MqttClientOptions extends MqttTlsOptions {
  clientId: string;
  username?: string;
  password?: string;
  /** Clean Start: false resumes the session the broker kept for `clientId`. */
  clean: boolean;
  /** Seconds; the broker's Server Keep Alive replaces it. 0 turns keep-alive off. */
  keepalive: number;
  /** Milliseconds from `connect()` to the CONNACK before the socket is destroyed. */
  connectTimeout: number;
  properties: { sessionExpiryInterval?: number; maximumPacketSize: number };
  will?: { topic: string; payload: Buffer; qos: QoS; retain: boolean; properties?: Properties };
  clock: Clock;
}

export interface Connack {
  sessionPresent: boolean;
  reasonCode: number;
  properties: Properties;
}

export interface PublishOptions {
  qos: 0 | 1;
  retain: boolean;
  properties?: Properties;
}

export interface ReceivedMessage {
  topic: string;
  qos: QoS;
  retain: boolean;
  properties: Properties;
}

interface MqttClientEvents {
  connect: [Connack];
  message: [topic: string, payload: Buffer, packet: ReceivedMessage];
  /** The broker sent DISCONNECT (the socket closes next). */
  disconnect: [{ reasonCode: number; properties: Properties }];
  error: [Error];
  close: [];
}

type State = 'idle' | 'connecting' | 'open' | 'closing' | 'closed';

type Acknowledged =
  | { kind: 'publish'; done: (err?: Error) => void }
  | { kind: 'subscribe'; done: (err: Error | null) => void };

const MAX_PACKET_ID = 65_535;

/**
 * The agent's MQTT 5 client: one connection to a broker over an injected socket, no reconnect
 * (MqttLink makes a new client per dial) and no retransmission across connections (the outbox
 * resends from its spool after the next welcome). Within the connection QoS 1 is kept: packet
 * identifiers, each PUBACK and SUBACK matched to its callback, an incoming QoS 1 PUBLISH answered
 * with a PUBACK. The broker's Receive Maximum is the caller's to keep (PublishWindow).
 *
 *     idle ─connect()─▶ connecting ─CONNACK (success)─▶ open ─end(false)─▶ closing
 *                           │                             │    (DISCONNECT sent)  │
 *                           └─ refusal, timeout, ─────────┴─ error, broker ───────┴─ socket
 *                              end(true), error              DISCONNECT, end(true)    closed ─▶ closed
 *
 * `error` is emitted at most once, before `close`; `close` is always last and always comes, once
 * the socket has closed. Bytes from the broker are framed within our Maximum Packet Size
 * (PacketReader); a malformed or misplaced packet ends the connection with a DISCONNECT that
 * names the reason, and an MqttError MQTT_PROTOCOL_ERROR (MQTT_PACKET_TOO_LARGE for size).
 * Each packet is written as it is made: gathering a tick's packets into one write (cork until the
 * next tick, or one concatenated buffer) cost more CPU, not less (README, "Fleet over MQTT").
 */
export class MqttClient extends EventEmitter<MqttClientEvents> {
  readonly #url: URL;
  readonly #o: MqttClientOptions;
  readonly #createSocket: MqttSocketFactory;
  #state: State = 'idle';
  #socket: MqttSocket | null = null;
  readonly #reader: PacketReader;
  /** Packets sent and waiting for their PUBACK or SUBACK, by packet identifier. */
  readonly #awaiting = new Map<number, Acknowledged>();
  #lastPacketId = 0;
  /** The broker's Maximum Packet Size (CONNACK); none: only the protocol's own limit. */
  #brokerMaxPacketBytes = Infinity;
  #keepAlive: KeepAlive | null = null;
  #connectTimer: TimerHandle | null = null;
  #errored = false;

  constructor(url: string, options: MqttClientOptions, createSocket: MqttSocketFactory) {
    super();
    this.#url = new URL(url);
    this.#o = options;
    this.#createSocket = createSocket;
    this.#reader = new PacketReader(options.properties.maximumPacketSize);
  }

  get state(): State {
    return this.#state;
  }

  /** Bytes written to the socket and not yet on the network. */
  get bufferedAmount(): number {
    return this.#socket?.writableLength ?? 0;
  }

  /** Bytes held by the reader for a packet not yet complete (at most the Maximum Packet Size). */
  get readBufferedBytes(): number {
    return this.#reader.bufferedBytes;
  }

  /** Opens the socket and sends CONNECT; the `connect` event carries the CONNACK. */
  connect(): void {
    if (this.#state !== 'idle') throw new Error(`cannot connect a client that is ${this.#state}`);
    this.#state = 'connecting';
    let socket: MqttSocket;
    try {
      socket = this.#createSocket(this.#url, this.#tls());
    } catch (err) {
      // No socket, so no close to wait for: both events on the next tick, as a socket's would be.
      this.#state = 'closed';
      process.nextTick(() => {
        this.#emitError(err as Error);
        this.emit('close');
      });
      return;
    }
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#emitError(err));
    socket.on('close', () => this.#onClose());
    this.#connectTimer = this.#o.clock.setTimeout(() => {
      this.#connectTimer = null;
      this.#abort(
        new MqttError(
          MqttErrorCode.connectTimeout,
          `no CONNACK within ${this.#o.connectTimeout} ms`,
        ),
      );
    }, this.#o.connectTimeout);
    const { clientId, username, password, clean, keepalive, properties, will } = this.#o;
    this.#write(
      encodeConnect({
        clientId,
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
        cleanStart: clean,
        keepAliveS: keepalive,
        properties,
        ...(will ? { will } : {}),
      }),
    );
  }

  /** QoS 1: `done` runs at the PUBACK (an MqttError MQTT_REFUSED for a reason ≥ 0x80). */
  publish(
    topic: string,
    payload: string | Buffer,
    options: PublishOptions,
    done: (err?: Error) => void = () => {},
  ): void {
    if (this.#state !== 'open') {
      queueMicrotask(() => done(this.#closedError('publish')));
      return;
    }
    const packetId = options.qos === 1 ? this.#nextPacketId() : undefined;
    const packet = encodePublish({
      topic,
      payload,
      qos: options.qos,
      retain: options.retain,
      ...(packetId !== undefined ? { packetId } : {}),
      ...(options.properties ? { properties: options.properties } : {}),
    });
    if (packet.length > this.#brokerMaxPacketBytes) {
      queueMicrotask(() =>
        done(
          new MqttError(
            MqttErrorCode.publishTooLarge,
            `a ${packet.length}-byte publish on ${topic} is over the broker's Maximum Packet Size of ${this.#brokerMaxPacketBytes} bytes`,
            { reasonCode: ReasonCode.packetTooLarge },
          ),
        ),
      );
      return;
    }
    if (packetId === undefined) this.#write(packet, () => done());
    else {
      this.#awaiting.set(packetId, { kind: 'publish', done });
      this.#write(packet);
    }
  }

  /** `done` runs at the SUBACK: null, or an MqttError MQTT_REFUSED with the broker's reason. */
  subscribe(topic: string, options: { qos: QoS }, done: (err: Error | null) => void): void {
    if (this.#state !== 'open') {
      queueMicrotask(() => done(this.#closedError('subscribe')));
      return;
    }
    const packetId = this.#nextPacketId();
    this.#awaiting.set(packetId, { kind: 'subscribe', done });
    this.#write(encodeSubscribe({ packetId, subscriptions: [{ topic, qos: options.qos }] }));
  }

  /**
   * `force`: the socket is destroyed at once. Otherwise a DISCONNECT (normal: the broker drops
   * the will) and the socket's end; the caller bounds the wait for `close`.
   */
  end(force = false): void {
    if (this.#state === 'closed' || this.#state === 'idle') {
      this.#state = 'closed';
      return;
    }
    if (force || this.#state !== 'open') {
      this.destroy();
      return;
    }
    this.#state = 'closing';
    this.#stopTimers();
    this.#write(encodeDisconnect());
    this.#socket?.end();
  }

  /** Ends the connection at once (a dead link gets no DISCONNECT). */
  destroy(): void {
    if (this.#state === 'idle') this.#state = 'closed';
    this.#socket?.destroy();
  }

  #tls(): MqttTlsOptions {
    const { ca, cert, key } = this.#o;
    return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }

  #nextPacketId(): number {
    // The next identifier not awaiting an acknowledgement; the window keeps far fewer in flight.
    do this.#lastPacketId = (this.#lastPacketId % MAX_PACKET_ID) + 1;
    while (this.#awaiting.has(this.#lastPacketId));
    return this.#lastPacketId;
  }

  #write(packet: Buffer, written?: () => void): void {
    const socket = this.#socket;
    if (!socket || socket.destroyed) return;
    socket.write(packet, written && (() => written()));
    this.#keepAlive?.sent();
  }

  #onData(chunk: Buffer): void {
    try {
      for (const { firstByte, body } of this.#reader.push(chunk)) {
        // Ending (a refusal, a DISCONNECT, our own end): what else came in this chunk is moot.
        if (this.#state === 'closing' || this.#state === 'closed') return;
        this.#keepAlive?.received();
        this.#handle(decodePacket(firstByte, body));
      }
    } catch (err) {
      if (err instanceof MalformedPacketError) {
        this.#refuse(
          err.reasonCode,
          new MqttError(
            MqttErrorCode.protocolError,
            `the broker sent a bad packet (${reasonText(err.reasonCode)}): ${err.message}`,
          ),
        );
      } else if (err instanceof MqttError) this.#refuse(err.reasonCode ?? 0x81, err);
      else throw err;
    }
  }

  #handle(packet: IncomingPacket): void {
    if (this.#state === 'connecting') {
      if (packet.type === 'connack') this.#onConnack(packet);
      else if (packet.type === 'disconnect') this.#onDisconnect(packet);
      else
        throw new MalformedPacketError(`${packet.type} before CONNACK`, ReasonCode.protocolError);
      return;
    }
    switch (packet.type) {
      case 'publish':
        this.#onPublish(packet);
        return;
      case 'puback':
        this.#acknowledged(packet.packetId, 'publish', packet.reasonCode, packet.properties);
        return;
      case 'suback':
        this.#acknowledged(
          packet.packetId,
          'subscribe',
          packet.reasonCodes[0] as number,
          packet.properties,
        );
        return;
      case 'pingresp':
        return; // the keep-alive has seen it
      case 'disconnect':
        this.#onDisconnect(packet);
        return;
      case 'connack':
        throw new MalformedPacketError('a second CONNACK', ReasonCode.protocolError);
    }
  }

  #onConnack(connack: Extract<IncomingPacket, { type: 'connack' }>): void {
    this.#clearConnectTimer();
    if (connack.reasonCode >= 0x80) {
      this.#abort(
        new MqttError(
          MqttErrorCode.refused,
          `connection refused: ${reasonText(connack.reasonCode)}${reasonSuffix(connack.properties)}`,
          { reasonCode: connack.reasonCode },
        ),
      );
      return;
    }
    this.#state = 'open';
    this.#brokerMaxPacketBytes = connack.properties.maximumPacketSize ?? Infinity;
    const keepAliveS = connack.properties.serverKeepAlive ?? this.#o.keepalive;
    if (keepAliveS > 0) {
      this.#keepAlive = new KeepAlive({
        clock: this.#o.clock,
        intervalMs: keepAliveS * 1000,
        sendPing: () => this.#write(encodePingreq()),
        onStale: () =>
          this.#abort(
            new MqttError(
              MqttErrorCode.keepAliveTimeout,
              `no answer from the broker within the ${keepAliveS} s keep-alive after a PINGREQ`,
            ),
          ),
      });
      this.#keepAlive.start();
    }
    const { sessionPresent, reasonCode, properties } = connack;
    this.emit('connect', { sessionPresent, reasonCode, properties });
  }

  #onPublish(publish: Extract<IncomingPacket, { type: 'publish' }>): void {
    // Our CONNECT states no Topic Alias Maximum (0), so the broker may not use aliases.
    if (publish.properties.topicAlias !== undefined)
      throw new MalformedPacketError(
        'a topic alias, though we allow none',
        ReasonCode.topicAliasInvalid,
      );
    if (publish.topic === '')
      throw new MalformedPacketError('PUBLISH with no topic', ReasonCode.protocolError);
    // We subscribe with QoS 1 only: the broker must downgrade, so QoS 2 is its error.
    if (publish.qos === 2)
      throw new MalformedPacketError(
        'a QoS 2 PUBLISH to a client subscribed with QoS 1',
        ReasonCode.protocolError,
      );
    const { topic, qos, retain, properties, payload, packetId } = publish;
    this.emit('message', topic, payload, { topic, qos, retain, properties });
    if (packetId !== undefined && this.#state === 'open') this.#write(encodePuback(packetId));
  }

  #acknowledged(
    packetId: number,
    kind: Acknowledged['kind'],
    reasonCode: number,
    properties: Properties,
  ): void {
    const awaiting = this.#awaiting.get(packetId);
    if (awaiting?.kind !== kind)
      throw new MalformedPacketError(
        `a ${kind === 'publish' ? 'PUBACK' : 'SUBACK'} for packet ${packetId}, which awaits none`,
        ReasonCode.protocolError,
      );
    this.#awaiting.delete(packetId);
    const err =
      reasonCode >= 0x80
        ? new MqttError(
            MqttErrorCode.refused,
            `${kind} refused: ${reasonText(reasonCode)}${reasonSuffix(properties)}`,
            { reasonCode },
          )
        : null;
    if (awaiting.kind === 'publish') awaiting.done(err ?? undefined);
    else awaiting.done(err);
  }

  #onDisconnect(packet: { reasonCode: number; properties: Properties }): void {
    this.#stopTimers();
    this.#state = 'closing';
    this.emit('disconnect', packet);
    this.#socket?.destroy(); // the broker closes it too; nothing more may be sent (§3.14.4)
  }

  /** The broker broke the protocol: tell it why (a DISCONNECT) and end the connection. */
  #refuse(reasonCode: number, err: MqttError): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'open') this.#write(encodeDisconnect(reasonCode));
    this.#abort(err);
  }

  /** Ends the connection with `err` as its cause; what is queued to write still goes out. */
  #abort(err: Error): void {
    this.#stopTimers();
    this.#emitError(err);
    const socket = this.#socket;
    if (!socket) return;
    this.#state = 'closing';
    socket.end();
    socket.destroy();
  }

  #emitError(err: Error): void {
    if (this.#errored) return;
    this.#errored = true;
    this.emit('error', err);
  }

  #onClose(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#stopTimers();
    const awaiting = [...this.#awaiting.values()];
    this.#awaiting.clear();
    for (const entry of awaiting) {
      const err = this.#closedError(entry.kind);
      if (entry.kind === 'publish') entry.done(err);
      else entry.done(err);
    }
    this.emit('close');
  }

  #closedError(what: string): MqttError {
    return new MqttError(
      MqttErrorCode.connectionClosed,
      `the connection closed before the ${what} was acknowledged`,
    );
  }

  #stopTimers(): void {
    this.#clearConnectTimer();
    this.#keepAlive?.stop();
    this.#keepAlive = null;
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer) this.#o.clock.clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
  }
}

function reasonSuffix(properties: Properties): string {
  return properties.reasonString ? ` (${properties.reasonString})` : '';
}
