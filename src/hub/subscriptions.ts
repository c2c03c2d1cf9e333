import { uniqueId, type IdSource } from './ids.js';
import { MultiMap } from './multi-map.js';

/**
 * Telemetry subscriptions of `/v1/stream` clients: each belongs to one client and names one
 * device and a set of streams. A client can only see and remove its own.
 *
 * Whenever the union of streams wanted for a device changes, `onStreamsChanged` listeners hear
 * it (so the device session can later tell the agent which streams to send).
 */
export interface Subscription<C> {
  readonly id: string;
  readonly client: C;
  readonly deviceId: string;
  readonly streams: ReadonlySet<string>;
}

export type StreamsChangedListener = (deviceId: string, streams: readonly string[]) => void;

export class SubscriptionRegistry<C> {
  readonly #ids: IdSource;
  readonly #byId = new Map<string, Subscription<C>>();
  readonly #byDevice = new MultiMap<string, Subscription<C>>();
  readonly #byClient = new MultiMap<C, Subscription<C>>();
  readonly #listeners = new Set<StreamsChangedListener>();

  constructor(ids: IdSource) {
    this.#ids = ids;
  }

  add(client: C, deviceId: string, streams: readonly string[]): Subscription<C> {
    const before = this.streamsWanted(deviceId);
    const id = uniqueId(this.#ids, 'sub', (candidate) => this.#byId.has(candidate));
    const subscription: Subscription<C> = { id, client, deviceId, streams: new Set(streams) };
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
    const before = this.streamsWanted(subscription.deviceId);
    this.#delete(subscription);
    this.#notifyIfChanged(subscription.deviceId, before);
    return subscription;
  }

  /** Ends every subscription of a client (it disconnected). */
  removeClient(client: C): Subscription<C>[] {
    const removed = this.#byClient.get(client);
    const devices = new Set(removed.map((s) => s.deviceId));
    const before = new Map([...devices].map((d) => [d, this.streamsWanted(d)]));
    for (const subscription of removed) this.#delete(subscription);
    for (const [deviceId, streams] of before) this.#notifyIfChanged(deviceId, streams);
    return removed;
  }

  /** Subscriptions that want this stream of this device. */
  matching(deviceId: string, stream: string): Subscription<C>[] {
    return this.#byDevice.get(deviceId).filter((s) => s.streams.has(stream));
  }

  /** The union of streams any client wants from the device, sorted. */
  streamsWanted(deviceId: string): string[] {
    const streams = new Set<string>();
    for (const s of this.#byDevice.get(deviceId))
      for (const stream of s.streams) streams.add(stream);
    return [...streams].sort();
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

  #notifyIfChanged(deviceId: string, before: readonly string[]): void {
    const after = this.streamsWanted(deviceId);
    if (after.length === before.length && after.every((s, i) => s === before[i])) return;
    for (const listener of [...this.#listeners]) listener(deviceId, after);
  }
}
