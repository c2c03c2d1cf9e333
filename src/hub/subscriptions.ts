import { streamCovers } from '../protocol/fields.js';
import { uniqueId, type IdSource } from './ids.js';
import { MultiMap } from './multi-map.js';
import { unionDemand } from './stream-union.js';

/**
 * Telemetry subscriptions of `/v1/stream` clients: each belongs to one client and names one
 * device and a set of streams. A client can only see and remove its own.
 *
 * Whenever the union of streams wanted for a device changes (or the fastest interval asked for
 * one of them), `onStreamsChanged` listeners hear it, and the broker tells the agent.
 * A subscription to `network` covers `network.rx` and `network.tx` (see `streamCovers`).
 */
export interface Subscription<C> {
  readonly id: string;
  readonly client: C;
  readonly deviceId: string;
  readonly streams: ReadonlySet<string>;
  /** How often the client asked for samples; undefined for the device's own rate. */
  readonly intervalMs?: number;
}

/** One stream a device should send, at the fastest interval any subscription asked for. */
export interface StreamDemand {
  name: string;
  interval_ms?: number;
}

export type StreamsChangedListener = (
  deviceId: string,
  streams: readonly string[],
  demand: readonly StreamDemand[],
) => void;

export class SubscriptionRegistry<C> {
  readonly #ids: IdSource;
  readonly #byId = new Map<string, Subscription<C>>();
  readonly #byDevice = new MultiMap<string, Subscription<C>>();
  readonly #byClient = new MultiMap<C, Subscription<C>>();
  readonly #listeners = new Set<StreamsChangedListener>();

  constructor(ids: IdSource) {
    this.#ids = ids;
  }

  add(
    client: C,
    deviceId: string,
    streams: readonly string[],
    intervalMs?: number,
  ): Subscription<C> {
    const before = this.demand(deviceId);
    const id = uniqueId(this.#ids, 'sub', (candidate) => this.#byId.has(candidate));
    const subscription: Subscription<C> = {
      id,
      client,
      deviceId,
      streams: new Set(streams),
      ...(intervalMs === undefined ? {} : { intervalMs }),
    };
    this.#byId.set(id, subscription);
    this.#byDevice.add(deviceId, subscription);
    this.#byClient.add(client, subscription);
    this.#notifyIfChanged(deviceId, before);
    return subscription;
  }

  /** Removes one of `client`'s subscriptions; undefined if it has none with that id. */
  remove(client: C, id: string): Subscription<C> | undefined {
    const subscription = this.#byId.get(id);
    if (!subscription || subscription.client !== client) return undefined;
    const before = this.demand(subscription.deviceId);
    this.#delete(subscription);
    this.#notifyIfChanged(subscription.deviceId, before);
    return subscription;
  }

  /** Ends every subscription of a client (it disconnected). */
  removeClient(client: C): Subscription<C>[] {
    const removed = this.#byClient.get(client);
    const devices = new Set(removed.map((s) => s.deviceId));
    const before = new Map([...devices].map((d) => [d, this.demand(d)]));
    for (const subscription of removed) this.#delete(subscription);
    for (const [deviceId, streams] of before) this.#notifyIfChanged(deviceId, streams);
    return removed;
  }

  /** Subscriptions that want this stream of this device. */
  matching(deviceId: string, stream: string): Subscription<C>[] {
    return this.#byDevice
      .get(deviceId)
      .filter((s) => s.streams.has(stream) || [...s.streams].some((w) => streamCovers(w, stream)));
  }

  /** The union of streams any client wants from the device, sorted. */
  streamsWanted(deviceId: string): string[] {
    const streams = new Set<string>();
    for (const s of this.#byDevice.get(deviceId))
      for (const stream of s.streams) streams.add(stream);
    return [...streams].sort();
  }

  /** `streamsWanted` with, per stream, the fastest interval any of its subscriptions asked for. */
  demand(deviceId: string): StreamDemand[] {
    return unionDemand(
      this.#byDevice
        .get(deviceId)
        .map((s) =>
          [...s.streams].map((name) =>
            s.intervalMs === undefined ? { name } : { name, interval_ms: s.intervalMs },
          ),
        ),
    );
  }

  /** How many subscriptions the client holds. */
  countFor(client: C): number {
    return this.#byClient.count(client);
  }

  list(): Subscription<C>[] {
    return [...this.#byId.values()];
  }

  /** Listens for changes of `streamsWanted(deviceId)`; returns a function that stops listening. */
  onStreamsChanged(listener: StreamsChangedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #delete(subscription: Subscription<C>): void {
    this.#byId.delete(subscription.id);
    this.#byDevice.delete(subscription.deviceId, subscription);
    this.#byClient.delete(subscription.client, subscription);
  }

  #notifyIfChanged(deviceId: string, before: readonly StreamDemand[]): void {
    const after = this.demand(deviceId);
    const same =
      after.length === before.length &&
      after.every((d, i) => d.name === before[i]?.name && d.interval_ms === before[i]?.interval_ms);
    if (same) return;
    const names = after.map((d) => d.name);
    for (const listener of [...this.#listeners]) listener(deviceId, names, after);
  }
}
