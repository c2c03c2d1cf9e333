import type { Logger } from 'pino';
import { APP_EVENTS_STREAM } from '../../protocol/apps.js';
import { CloseCode } from '../../protocol/close-codes.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { seqNumber } from '../../protocol/fields.js';
import { LogCode } from '../../log/log-codes.js';
import { MAX_FRAME_BYTES, type Message } from '../../protocol/message.js';
import {
  WEBHOOKS_TOPIC,
  deviceTopic,
  hubTopic,
  hubWantsTopic,
  parseTopic,
} from '../../protocol/mqtt-topics.js';
import { parseFrame, type FrameError, type ParsedFrame } from '../../protocol/parse.js';
import { HELLO, toHubValidators, type HelloPayload } from '../../protocol/to-hub.js';
import type { RandomSource } from '../../time/backoff.js';
import type { Clock, TimerHandle } from '../../time/clock.js';
import { ACK_BYTES, AckBatcher } from '../ack-batcher.js';
import { failure } from '../device-peer.js';
import { welcomeMessage } from '../welcome.js';
import type { Broker } from '../broker.js';
import type { StreamDemand } from '../subscriptions.js';
import { FleetConnection } from './fleet-connection.js';
import type { FleetSettings } from './fleet-settings.js';
import {
  decodeCursor,
  decodeHubPresence,
  decodePresence,
  decodeWants,
  type Decoded,
} from './fleet-payloads.js';
import { MqttDeviceLink, type FleetPort } from './mqtt-device-link.js';
import { SharedWebhooks } from './shared-webhooks.js';
import type { Webhooks } from '../webhooks/webhooks.js';
import { ownerOf } from './rendezvous.js';
import { SeqCursor } from './seq-cursor.js';
import { UpReading } from './up-reading.js';
import { unionDemand } from '../stream-union.js';

/**
 * One hub's share of a fleet served from an MQTT broker (docs/protocol.md, "The hubs"). The
 * Broker stays the centre, as for WebSocket agents; this feeds it from the MQTT broker's traffic:
 *
 *     presence online (retained or live) ──▶ deviceAttached + deviceReady (a new link)
 *     hello on `up`                       ──▶ deviceReady again; the owner answers `welcome`
 *     any other frame on `up`             ──▶ deviceFrame, once per seq (relay cursor)
 *     presence offline / MQTT broker lost ──▶ deviceClosed (requests end after the grace)
 *
 * Every hub relays to its own clients; one hub, the owner (rendezvous hashing over the hubs
 * present), answers `hello`, acknowledges, keeps the retained cursor, posts webhooks and sends
 * the device the union of the streams every hub wants. A hub that becomes the owner of an
 * online device (a hub came or went) sends it `welcome` with the cursor: the agent sends again
 * what follows it, and the hubs drop what they had relayed already.
 *
 * A hub reads a device's `up` only while it owns the device, its clients want the device's
 * telemetry or app events, or it has requests open with it (UpReading): each hub carries its
 * share of the fleet, not all of it. A frame to a device it does not read yet is held until the
 * broker has granted the subscription, so the answer is never published before it is heard.
 *
 * Until the hub has seen its own presence come back from the MQTT broker it has not read the fleet's
 * retained messages to the end: it owns nothing until then.
 */
export interface FleetOptions extends Omit<FleetSettings, 'hubId'> {
  hubId: string;
  broker: Broker;
  clock: Clock;
  random: RandomSource;
  logger: Logger;
  ackIntervalMs: number;
  /** Bytes waiting on the broker connection at which every device counts as backed up. */
  highWaterBytes: number;
  /** Hears each device message once across the fleet (on its owner): webhooks post them. */
  onDeviceMessage: (deviceId: string, frame: ParsedFrame) => void;
  /** The hub's webhooks: the same set on every hub of the fleet (SharedWebhooks). */
  webhooks: Webhooks;
}

/**
 * The retained cursor is published at most this often per device, not with every ack: it is
 * fanned out to every hub, and one per second per device was a good part of the broker's work.
 * A cursor behind the acks costs nothing but resends: a new owner welcomes from it, the agent
 * resends from the later of it and its own acknowledged seq (SpoolOutbox.resumePoint), and the
 * hubs drop what they relayed already.
 */
export const CURSOR_INTERVAL_MS = 5_000;
/** How often the hub stops reading devices it no longer owns, relays or has requests with. */
export const READ_SWEEP_MS = 30_000;
/**
 * A device this hub sent a frame to stays read this long at least: the answers to a request
 * that was refused or has just ended, and follow-ups (a cancel), still come in.
 */
export const READ_LINGER_MS = 60_000;

/** What this hub knows of one device. */
interface FleetDevice {
  readonly id: string;
  /** Its link in this hub while it is online (presence or hello seen). */
  link: MqttDeviceLink | null;
  /** The last seq this hub relayed to its clients: a resend reaches no client twice. */
  readonly relayed: SeqCursor;
  /** What the fleet has processed (the retained cursor; the owner's own progress). */
  readonly processed: SeqCursor;
  /**
   * What the fleet has acknowledged (the retained cursor, and this hub's acks as owner): a
   * welcome resumes from here, not from `processed`, so that frames the owner saw and had not
   * acknowledged yet are sent again for hubs that may have missed them (a broker killed between
   * delivering a frame to one hub and to another).
   */
  readonly acknowledged: SeqCursor;
  owner: string | null;
  /** The owner's acknowledgements, while this hub owns the device and it is online. */
  acks: AckBatcher | null;
  /** The owner's retained cursor publishes: cumulative, at most one per cursorIntervalMs. */
  cursors: AckBatcher | null;
  /** The agent connection (`since`) this hub last welcomed as its owner. */
  welcomedSince: string | null;
  /** The last `streams` sent (as JSON), so that an unchanged union is not sent again. */
  sentStreams: string | null;
  /** When the agent's current broker connection began (its presence's `since`). */
  since: string | null;
  /**
   * The link in this hub began with a new agent connection (a presence with a new `since`): its
   * hellos judge the requests of the earlier link (`open_requests`). A link made again for the
   * same connection (this hub back on its MQTT broker) confirms them: nothing was lost.
   */
  judgesRequests: boolean;
}

const validSeq = seqNumber();
const NO_STORE = '';

export class Fleet implements FleetPort {
  readonly hubId: string;
  readonly #o: FleetOptions;
  readonly #logger: Logger;
  readonly #broker: Broker;
  readonly #connection: FleetConnection;
  readonly #sharedWebhooks: SharedWebhooks;
  readonly #devices = new Map<string, FleetDevice>();
  /** Hubs whose presence is retained now (this one too, once it has seen its own). */
  readonly #hubs = new Set<string>();
  /** Hub → device → the streams that hub's clients want. */
  readonly #wants = new Map<string, Map<string, StreamDemand[]>>();
  /** Devices this hub has published wants for (cleared when nothing is wanted, and on stop). */
  readonly #ownWants = new Set<string>();
  /** Devices whose wants this hub cleared while it had no connection to the MQTT broker. */
  readonly #unsentClears = new Set<string>();
  readonly #reading: UpReading;
  /** When this hub last sent each device a frame (kept while the device is read). */
  readonly #sentDownAt = new Map<string, number>();
  /** Frames held until their device's `up` is read (counted in `backedUp`). */
  #heldBytes = 0;
  /** Devices whose `up` the current connection subscribed to before it went online. */
  #resumed = new Set<string>();
  #sweepTimer: TimerHandle | null = null;
  #synced = false;
  #stopListening: (() => void) | null = null;
  #stopping: Promise<void> | null = null;

  constructor(options: FleetOptions) {
    this.#o = options;
    this.hubId = options.hubId;
    this.#logger = options.logger.child({ hubId: options.hubId });
    this.#broker = options.broker;
    this.#connection = new FleetConnection({
      url: options.url,
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.createClient ? { createClient: options.createClient } : {}),
      ...options.connection,
      hubId: options.hubId,
      clock: options.clock,
      random: options.random,
      logger: this.#logger,
      onOnline: () => this.#onOnline(),
      resumeTopics: () => {
        // What this hub read before the loss is read again before it is back: a hub that
        // relays a device must not miss what the agent sends again after its owner's welcome.
        this.#resumed = new Set(this.#reading.devices());
        return [...this.#resumed].map((deviceId) => deviceTopic(deviceId, 'up'));
      },
      onMessage: (topic, payload) => this.#onMessage(topic, payload),
      onOffline: () => this.#onOffline(),
    });
    this.#reading = new UpReading({
      subscribe: (topics) => this.#connection.subscribe(topics),
      unsubscribe: (topics) => this.#connection.unsubscribe(topics),
    });
    this.#sharedWebhooks = new SharedWebhooks({
      webhooks: options.webhooks,
      publish: (payload) => this.#connection.publish(WEBHOOKS_TOPIC, payload, true),
      logger: this.#logger,
    });
  }

  start(): void {
    this.#stopListening ??= this.#broker.subscriptions.onStreamsChanged((deviceId, _n, demand) => {
      if (demand.length > 0) this.#reading.read(deviceId);
      this.#publishWants(deviceId, demand);
    });
    this.#sharedWebhooks.start();
    this.#connection.start();
    this.#scheduleSweep();
  }

  /** Clears this hub's presence and wants, then ends the broker connection (bounded). */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  get connected(): boolean {
    return this.#connection.online;
  }

  /** Whether this hub is the device's owner now. */
  owns(deviceId: string): boolean {
    return this.#synced && this.#devices.get(deviceId)?.owner === this.hubId;
  }

  /** Whether this hub reads the device's `up` now (it owns, relays or has requests with it). */
  reads(deviceId: string): boolean {
    return this.#reading.isRead(deviceId);
  }

  /** Runs `heard` once this hub reads the device's frames (or cannot now: no connection). */
  whenHeard(deviceId: string, heard: () => void): void {
    this.#reading.read(deviceId, () => heard());
  }

  /** The hubs present on the broker, as this hub knows them (sorted). */
  hubs(): string[] {
    return [...this.#hubs].sort();
  }

  // ── FleetPort (the device links) ─────────────────────────────────────────────────────────

  sendDown(deviceId: string, message: Message): boolean {
    if (!this.#connection.online) return false;
    this.#sentDownAt.set(deviceId, this.#o.clock.now());
    const topic = deviceTopic(deviceId, 'down');
    const text = JSON.stringify(message);
    if (this.#reading.isRead(deviceId)) return this.#connection.publish(topic, text);
    // Its answers come on `up`: held (in order, bounded) until this hub hears them.
    const bytes = Buffer.byteLength(text);
    if (this.#heldBytes + bytes > this.#o.highWaterBytes) return false;
    this.#heldBytes += bytes;
    this.#reading.read(deviceId, (read) => {
      this.#heldBytes -= bytes;
      if (read) this.#connection.publish(topic, text);
    });
    return true;
  }

  get backedUp(): boolean {
    return this.#connection.bufferedBytes + this.#heldBytes >= this.#o.highWaterBytes;
  }

  endLink(link: MqttDeviceLink): void {
    const device = this.#devices.get(link.deviceId);
    if (device?.link === link) this.#goOffline(device, 'link closed by the hub');
  }

  // ── the broker connection ────────────────────────────────────────────────────────────────

  async #stop(): Promise<void> {
    this.#stopListening?.();
    this.#stopListening = null;
    if (this.#sweepTimer) this.#o.clock.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = null;
    this.#sharedWebhooks.stop();
    // The cursors first: the hub that takes the devices over welcomes from them.
    for (const device of this.#devices.values()) device.cursors?.flushPending();
    for (const deviceId of this.#ownWants)
      this.#publishRetained(hubWantsTopic(this.hubId, deviceId), '');
    this.#ownWants.clear();
    this.#publishRetained(hubTopic(this.hubId), '');
    for (const device of this.#devices.values()) this.#goOffline(device, 'hub stopping');
    await this.#connection.stop();
  }

  #onOnline(): void {
    this.#logger.info({ url: redactedUrl(this.#o.url) }, 'connected to the MQTT broker');
    this.#reading.connectionBack(this.#resumed);
    this.#resumed = new Set();
    // The broker keeps retained wants across a short loss, but the others may have cleared
    // them when this hub's will went out: say them again.
    const wanted = new Set(this.#broker.subscriptions.list().map((s) => s.deviceId));
    for (const deviceId of new Set([...wanted, ...this.#unsentClears]))
      this.#publishWants(deviceId, this.#broker.subscriptions.demand(deviceId), true);
    this.#unsentClears.clear();
  }

  #onOffline(): void {
    // Nothing the hub knew of who is online holds now; the retained messages tell it again.
    this.#synced = false;
    this.#hubs.clear();
    this.#wants.clear();
    this.#reading.connectionLost();
    for (const device of this.#devices.values()) {
      device.owner = null;
      this.#goOffline(device, 'hub lost its broker connection');
    }
  }

  // ── which devices this hub reads ─────────────────────────────────────────────────────────

  #scheduleSweep(): void {
    this.#sweepTimer = this.#o.clock.setTimeout(() => {
      this.#sweep();
      this.#scheduleSweep();
    }, this.#o.readSweepMs ?? READ_SWEEP_MS);
    this.#sweepTimer.unref?.();
  }

  /** Stops reading the devices this hub no longer owns, relays or has requests with. */
  #sweep(): void {
    const requested = new Set<string>();
    for (const request of this.#broker.requests.all()) requested.add(request.device.deviceId);
    const now = this.#o.clock.now();
    const unneeded: string[] = [];
    for (const deviceId of this.#reading.devices()) {
      const sentAt = this.#sentDownAt.get(deviceId);
      const needed =
        this.#devices.get(deviceId)?.owner === this.hubId ||
        this.#broker.subscriptions.demand(deviceId).length > 0 ||
        requested.has(deviceId) ||
        (sentAt !== undefined && now - sentAt < (this.#o.readLingerMs ?? READ_LINGER_MS));
      if (needed) continue;
      unneeded.push(deviceId);
      this.#sentDownAt.delete(deviceId);
    }
    if (unneeded.length > 0) {
      this.#logger.debug({ devices: unneeded.length }, 'devices no longer read');
      this.#reading.forget(unneeded);
    }
  }

  /**
   * A connected device that became this hub's is welcomed again (so that it resends from what
   * this hub has acknowledged) once its `up` is read. Reading comes first, not as a side effect
   * of sending the welcome: a hub taking over thousands of devices at once (at start) holds
   * more welcomes than its send bound, a welcome over the bound is dropped, and a device whose
   * welcome was dropped must still be read to have its next hello answered.
   */
  #takeOver(device: FleetDevice): void {
    this.#logger.info({ deviceId: device.id }, 'device taken over');
    this.#reading.read(device.id, (read) => {
      if (read && device.link && this.owns(device.id)) this.#welcome(device, undefined);
    });
  }

  /** The owner reads its device; one it did not read yet is welcomed once it does. */
  #readOwned(device: FleetDevice): void {
    if (device.owner !== this.hubId || this.#reading.isRead(device.id)) return;
    this.#reading.read(device.id, (read) => {
      // Its hello may have gone by before the subscription: welcome the connection unasked.
      if (read && device.link && this.owns(device.id) && device.welcomedSince !== device.since)
        this.#welcome(device, undefined);
    });
  }

  #onMessage(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (!parsed) {
      this.#logger.debug({ topic }, 'message on a topic outside the scheme ignored');
      return;
    }
    try {
      switch (parsed.kind) {
        case 'up':
          this.#onUp(parsed.deviceId, payload);
          break;
        case 'presence':
          this.#onPresence(parsed.deviceId, payload);
          break;
        case 'cursor':
          this.#onCursor(parsed.deviceId, payload);
          break;
        case 'hub':
          this.#onHubPresence(parsed.hubId, payload);
          break;
        case 'wants':
          this.#onWants(parsed.hubId, parsed.deviceId, payload);
          break;
        case 'webhooks':
          this.#sharedWebhooks.received(payload);
          break;
        case 'down':
          break;
      }
    } catch (err) {
      this.#logger.error(
        { code: ErrorCode.internalError, err, topic },
        'handling a broker message failed',
      );
    }
  }

  // ── hubs ─────────────────────────────────────────────────────────────────────────────────

  #onHubPresence(hubId: string, payload: Buffer): void {
    const decoded = this.#decoded(decodeHubPresence(payload), 'hub presence', { hubId });
    if (decoded === undefined) return;
    if (decoded === null) {
      if (!this.#hubs.delete(hubId)) return;
      this.#logger.info({ otherHub: hubId }, 'hub left the fleet');
      if (this.#synced) this.#clearWantsOf(hubId);
    } else {
      if (this.#hubs.has(hubId)) return;
      this.#hubs.add(hubId);
      if (hubId === this.hubId && !this.#synced) {
        // Our own presence came back: every retained message before it has been read.
        this.#synced = true;
        for (const other of this.#wants.keys())
          if (!this.#hubs.has(other)) this.#clearWantsOf(other);
        this.#sharedWebhooks.synced();
        this.#logger.info({ hubs: this.hubs(), devices: this.#devices.size }, 'fleet learnt');
      } else this.#logger.info({ otherHub: hubId }, 'hub joined the fleet');
    }
    if (this.#synced) this.#reassign();
  }

  /** A hub that is gone leaves its wants retained: the first hub to see it gone clears them. */
  #clearWantsOf(hubId: string): void {
    const wants = this.#wants.get(hubId);
    if (!wants || hubId === this.hubId) return;
    for (const deviceId of wants.keys()) this.#publishRetained(hubWantsTopic(hubId, deviceId), '');
  }

  /** Recomputes every device's owner; a device that moved to this hub is welcomed again. */
  #reassign(): void {
    for (const device of this.#devices.values()) {
      const owner = ownerOf(device.id, this.#hubs);
      if (owner === device.owner) {
        if (owner === this.hubId && device.link) this.#sendStreams(device, false);
        continue;
      }
      device.owner = owner;
      if (owner !== this.hubId) {
        device.acks?.stop();
        device.acks = null;
        device.cursors?.stop();
        device.cursors = null;
        device.sentStreams = null;
      } else if (device.link) this.#takeOver(device);
      else this.#readOwned(device);
    }
  }

  // ── wants ────────────────────────────────────────────────────────────────────────────────

  #publishWants(deviceId: string, demand: readonly StreamDemand[], always = false): void {
    const streams = demand.filter((d) => d.name !== APP_EVENTS_STREAM);
    const topic = hubWantsTopic(this.hubId, deviceId);
    if (streams.length > 0) {
      this.#ownWants.add(deviceId);
      this.#unsentClears.delete(deviceId);
      this.#publishRetained(topic, JSON.stringify({ streams }));
    } else if (this.#ownWants.delete(deviceId) || always) {
      // A clear that cannot go out now (no connection) goes out on the next one.
      if (!this.#publishRetained(topic, '')) this.#unsentClears.add(deviceId);
    }
  }

  #onWants(hubId: string, deviceId: string, payload: Buffer): void {
    const demand = this.#decoded(decodeWants(payload), 'wants', { otherHub: hubId, deviceId });
    if (demand === undefined) return;
    let wants = this.#wants.get(hubId);
    if (demand === null || demand.length === 0) {
      wants?.delete(deviceId);
      if (wants?.size === 0) this.#wants.delete(hubId);
    } else {
      if (!wants) this.#wants.set(hubId, (wants = new Map()));
      wants.set(deviceId, demand);
    }
    const device = this.#devices.get(deviceId);
    if (device?.link && this.owns(deviceId)) this.#sendStreams(device, false);
  }

  /** The union of what every present hub wants from the device. */
  #union(deviceId: string): StreamDemand[] {
    const lists: StreamDemand[][] = [];
    for (const hub of this.#hubs) {
      const demand = this.#wants.get(hub)?.get(deviceId);
      if (demand) lists.push(demand);
    }
    return unionDemand(lists);
  }

  #sendStreams(device: FleetDevice, always: boolean): void {
    const streams = this.#union(device.id);
    const text = JSON.stringify(streams);
    if (!always && text === device.sentStreams) return;
    if (device.link?.send({ type: 'streams', payload: { streams } })) device.sentStreams = text;
  }

  // ── devices ──────────────────────────────────────────────────────────────────────────────

  #device(deviceId: string): FleetDevice {
    let device = this.#devices.get(deviceId);
    if (!device) {
      device = {
        id: deviceId,
        link: null,
        relayed: new SeqCursor(),
        processed: new SeqCursor(),
        acknowledged: new SeqCursor(),
        owner: this.#synced ? ownerOf(deviceId, this.#hubs) : null,
        acks: null,
        cursors: null,
        welcomedSince: null,
        sentStreams: null,
        since: null,
        judgesRequests: false,
      };
      this.#devices.set(deviceId, device);
      this.#readOwned(device);
    }
    return device;
  }

  #onPresence(deviceId: string, payload: Buffer): void {
    const presence = this.#decoded(decodePresence(payload), 'presence', { deviceId });
    if (presence === undefined) return;
    if (presence?.hello && presence.hello.device_id !== deviceId) {
      this.#logger.warn(
        { code: ErrorCode.deviceMismatch, deviceId, named: presence.hello.device_id },
        'presence names another device; ignored',
      );
      return;
    }
    const device = this.#device(deviceId);
    this.#broker.devices.remember(deviceId, presence?.hello ?? null);
    if (presence?.online && presence.hello) {
      // A presence of a new connection without the old one's will in between (the broker took
      // the session over): the old link ends here, so the new one takes its requests and judges
      // them by its hello.
      const newConnection = device.since !== null && device.since !== presence.since;
      if (device.link && newConnection) this.#goOffline(device, 'a new connection of the agent');
      if (!device.link) device.judgesRequests = newConnection;
      device.since = presence.since;
      this.#ready(device, presence.hello);
      this.#readOwned(device);
      // Every hub says the same `connected_since`: the agent's, not when this hub heard of it.
      this.#broker.devices.connectedSince(deviceId, Date.parse(presence.since));
    } else if (device.link) this.#goOffline(device, 'presence offline');
  }

  #onCursor(deviceId: string, payload: Buffer): void {
    const cursor = this.#decoded(decodeCursor(payload), 'cursor', { deviceId });
    if (!cursor) return;
    const device = this.#device(deviceId);
    device.processed.raise(cursor.store_id, cursor.last_seq);
    device.acknowledged.raise(cursor.store_id, cursor.last_seq);
    // The relay cursor starts from the retained one, and from then on follows only what this
    // hub relayed: a frame it has not seen yet is never skipped because the owner has.
    if (device.relayed.storeId === null) device.relayed.raise(cursor.store_id, cursor.last_seq);
  }

  /** The device is online with `hello` (from its presence, or a hello frame). */
  #ready(device: FleetDevice, hello: HelloPayload): void {
    const storeId = hello.store_id ?? NO_STORE;
    device.relayed.openStore(storeId);
    device.processed.openStore(storeId);
    device.acknowledged.openStore(storeId);
    let link = device.link;
    if (!link) {
      link = new MqttDeviceLink(device.id, this);
      device.link = link;
      device.sentStreams = null;
      this.#broker.deviceAttached(link);
    }
    // The agent builds its hello after its subscription is granted, when every command its
    // session kept for it has arrived: on a new agent connection, a request of the earlier link
    // missing from `open_requests` was lost with the agent process that had it (judged as over
    // WebSocket, LostRequests). Otherwise the hello confirms every request.
    const claim: HelloPayload = { ...hello };
    if (!device.judgesRequests) {
      delete claim.open_requests;
      delete claim.seq;
    }
    this.#broker.deviceReady(link, claim, device.processed.lastSeq);
  }

  #goOffline(device: FleetDevice, reason: string): void {
    const link = device.link;
    device.acks?.stop();
    device.acks = null;
    device.cursors?.flushPending();
    device.sentStreams = null;
    if (!link) return;
    device.link = null;
    link.end();
    this.#broker.deviceClosed(link, CloseCode.goingAway, reason);
  }

  /** The owner's answer to a hello, and what it sends a device it takes over. */
  #welcome(device: FleetDevice, requestId: string | undefined): void {
    device.welcomedSince = device.since;
    device.cursors?.stop();
    this.#publishCursor(device);
    const welcome = welcomeMessage(
      device.id,
      device.acknowledged.lastSeq,
      this.#o.clock,
      requestId,
    );
    device.link?.send(welcome);
    this.#sendStreams(device, true);
  }

  /** The retained cursor: what the fleet has acknowledged of the device's store. */
  #publishCursor(device: FleetDevice): void {
    const { storeId, lastSeq } = device.acknowledged;
    this.#publishRetained(
      deviceTopic(device.id, 'cursor'),
      JSON.stringify({ store_id: storeId ?? NO_STORE, last_seq: lastSeq }),
    );
  }

  /** The owner acknowledges `seq` (cumulatively, batched); the cursor follows (throttled). */
  #acknowledge(device: FleetDevice, seq: number, bytes = 0): void {
    device.acks ??= new AckBatcher({
      intervalMs: this.#o.ackIntervalMs,
      maxBytes: ACK_BYTES,
      clock: this.#o.clock,
      send: (ackSeq) => {
        device.acknowledged.raise(device.processed.storeId ?? NO_STORE, ackSeq);
        device.cursors ??= new AckBatcher({
          intervalMs: this.#o.cursorIntervalMs ?? CURSOR_INTERVAL_MS,
          clock: this.#o.clock,
          send: () => this.#publishCursor(device),
        });
        device.cursors.note(ackSeq);
        // At QoS 0: an ack is cumulative, so one lost is made up by the next (or the next
        // welcome's last_seq), and the agent writes no PUBACK for each (an idle agent's CPU).
        if (device.link)
          this.#connection.publish(
            deviceTopic(device.id, 'down'),
            JSON.stringify({ type: 'ack', payload: { seq: ackSeq } }),
            false,
            0,
          );
      },
    });
    device.acks.note(seq, bytes);
  }

  // ── frames on `up` ───────────────────────────────────────────────────────────────────────

  #onUp(deviceId: string, payload: Buffer): void {
    if (payload.length > MAX_FRAME_BYTES) {
      this.#logger.warn(
        { code: ErrorCode.invalidJson, deviceId, bytes: payload.length },
        `frame from device larger than ${MAX_FRAME_BYTES} bytes dropped`,
      );
      return;
    }
    const device = this.#device(deviceId);
    const result = parseFrame(payload.toString('utf8'), toHubValidators);
    let link = device.link;
    if (!link) {
      // Frames before any presence (a hub that joined as the agent reconnected): relayed on a
      // link that is not ready until the presence or the hello comes.
      link = new MqttDeviceLink(deviceId, this);
      device.link = link;
      device.judgesRequests = false; // which connection it is, only a presence tells
      this.#broker.deviceAttached(link);
    }
    this.#broker.deviceSeen(link);
    if (!result.ok) {
      this.#onBadFrame(device, result.error);
      return;
    }
    const { frame } = result;
    if (frame.type === HELLO) {
      this.#onHello(device, frame);
      return;
    }
    const seq = frame.raw.seq;
    if (seq === undefined) {
      this.#handle(device, frame, true, true);
      return;
    }
    const valid = validSeq(seq, 'seq');
    if (!valid.ok) {
      this.#onBadFrame(
        device,
        failure(ErrorCode.invalidPayload, `${frame.type}: ${valid.error}`, frame),
      );
      return;
    }
    const owner = this.owns(deviceId);
    const relay = device.relayed.advance(valid.value);
    const post = owner && device.processed.advance(valid.value);
    if (relay || post) this.#handle(device, frame, relay, post);
    if (relay) this.#broker.deviceProcessed(link, valid.value);
    if (owner) this.#acknowledge(device, valid.value, payload.length);
  }

  #handle(device: FleetDevice, frame: ParsedFrame, relay: boolean, post: boolean): void {
    const link = device.link;
    if (!link) return;
    try {
      if (relay) this.#broker.deviceFrame(link, frame);
      if (post && this.owns(device.id)) this.#o.onDeviceMessage(device.id, frame);
    } catch (err) {
      this.#logger.error(
        { code: ErrorCode.internalError, err, deviceId: device.id, type: frame.type },
        'device frame handler failed',
      );
      link.refuse(failure(ErrorCode.internalError, `${frame.type}: internal error`, frame));
    }
  }

  #onHello(device: FleetDevice, frame: ParsedFrame): void {
    const hello = frame.payload as HelloPayload;
    if (hello.device_id !== device.id) {
      this.#logger.warn(
        { code: ErrorCode.deviceMismatch, deviceId: device.id, named: hello.device_id },
        'hello names another device',
      );
      device.link?.refuse(
        failure(
          ErrorCode.deviceMismatch,
          `hello names device "${hello.device_id}" on the topic of "${device.id}"`,
          frame,
        ),
      );
      return;
    }
    this.#ready(device, hello);
    if (this.owns(device.id)) this.#welcome(device, frame.request_id);
  }

  /** Logged by every hub; answered (and, with a seq, counted as processed) by the owner. */
  #onBadFrame(device: FleetDevice, error: FrameError): void {
    this.#logger.warn(
      { code: error.code, deviceId: device.id, type: error.type, reason: error.message },
      'bad frame from device',
    );
    const { seq } = error;
    if (seq !== undefined) device.relayed.advance(seq);
    if (!this.owns(device.id)) return;
    if (seq === undefined || device.processed.advance(seq)) device.link?.refuse(error);
    if (seq !== undefined) this.#acknowledge(device, seq);
  }

  // ── helpers ──────────────────────────────────────────────────────────────────────────────

  #publishRetained(topic: string, payload: string): boolean {
    return this.#connection.publish(topic, payload, true);
  }

  /** The decoded value, or undefined (logged) when the payload was bad. */
  #decoded<T>(
    result: Decoded<T>,
    what: string,
    context: Record<string, unknown>,
  ): T | null | undefined {
    if (result.ok) return result.value;
    this.#logger.warn(
      { code: LogCode.fleetMessageInvalid, ...context, reason: result.error },
      `bad ${what} message ignored`,
    );
    return undefined;
  }
}

/** A broker URL for a log line: without a password it may carry. */
function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable url)';
  }
}
