import { deviceTopic } from '../../protocol/mqtt-topics.js';
import { SUBSCRIBE_BATCH } from './fleet-connection.js';

/**
 * Which devices' `up` topics this hub reads. A hub that read every device's frames would cost
 * every hub the whole fleet's traffic, so adding hubs would not spread the load: a hub reads
 * only the devices it owns (to acknowledge them) and those its own clients want telemetry from
 * or have requests open with. The fleet decides why; this keeps the subscriptions:
 *
 *     unknown ─read()─▶ subscribing ─SUBACK─▶ read ─forget()─▶ unknown (UNSUBSCRIBE)
 *                          └─ connection lost ─▶ lost ─ connection back ─▶ subscribing
 *
 * `read(deviceId, then)` runs `then` once the broker has granted the subscription (at once if
 * it has), so what needs the device's answers (a command, a welcome) is sent only when its
 * answers will be heard. The subscriptions asked for in one turn of the event loop go out
 * together, in packets of at most BATCH topics: a hub taking over thousands of devices sends a
 * few packets, not thousands.
 */
export interface UpReadingOptions {
  /** Subscribes on the current connection; true once granted, false if refused or lost. */
  subscribe: (topics: readonly string[]) => Promise<boolean>;
  unsubscribe: (topics: readonly string[]) => Promise<void>;
  /** Runs `fn` after the current turn (batching); queueMicrotask by default. */
  defer?: (fn: () => void) => void;
}

/** Topics per SUBSCRIBE or UNSUBSCRIBE packet (the connection's own batch). */
export const BATCH = SUBSCRIBE_BATCH;

type State = 'subscribing' | 'read' | 'lost';

/** Runs once the device is read (`true`), or when that will not happen now (`false`). */
export type AfterRead = (read: boolean) => void;

interface Reading {
  state: State;
  /** What waits for the SUBACK, in the order it was asked for. */
  waiting: AfterRead[];
}

export class UpReading {
  readonly #o: UpReadingOptions;
  readonly #defer: (fn: () => void) => void;
  readonly #devices = new Map<string, Reading>();
  /** Devices to subscribe at the next flush. */
  #toSubscribe = new Set<string>();
  #flushQueued = false;
  /** Bumped when the connection is lost: a SUBACK of an earlier connection decides nothing. */
  #generation = 0;

  constructor(options: UpReadingOptions) {
    this.#o = options;
    this.#defer = options.defer ?? queueMicrotask;
  }

  /** Whether the broker has granted this device's `up` on the current connection. */
  isRead(deviceId: string): boolean {
    return this.#devices.get(deviceId)?.state === 'read';
  }

  /** Every device this hub reads or asked to read. */
  devices(): IterableIterator<string> {
    return this.#devices.keys();
  }

  /** Makes sure the device's `up` is read; `then` runs once it is (at once if it is already). */
  read(deviceId: string, then?: AfterRead): void {
    let reading = this.#devices.get(deviceId);
    if (reading?.state === 'read') {
      then?.(true);
      return;
    }
    if (!reading) this.#devices.set(deviceId, (reading = { state: 'lost', waiting: [] }));
    if (then) reading.waiting.push(then);
    if (reading.state === 'lost') this.#queue(deviceId, reading);
  }

  /** Stops reading the device (what waited for it is dropped). */
  forget(deviceIds: readonly string[]): void {
    const topics: string[] = [];
    for (const deviceId of deviceIds) {
      const reading = this.#devices.get(deviceId);
      if (!reading) continue;
      this.#devices.delete(deviceId);
      this.#toSubscribe.delete(deviceId);
      drop(reading);
      topics.push(deviceTopic(deviceId, 'up'));
    }
    for (let i = 0; i < topics.length; i += BATCH)
      void this.#o.unsubscribe(topics.slice(i, i + BATCH));
  }

  /** The connection is gone: nothing is granted any more, and what waited is dropped. */
  connectionLost(): void {
    this.#generation++;
    this.#toSubscribe.clear();
    for (const reading of this.#devices.values()) {
      reading.state = 'lost';
      drop(reading);
    }
  }

  /**
   * A connection is back, with the devices in `resumed` already subscribed on it (the
   * connection's own SUBSCRIBE, before it counted as online); every other one still wanted is
   * subscribed again.
   */
  connectionBack(resumed: ReadonlySet<string> = new Set()): void {
    for (const [deviceId, reading] of this.#devices) {
      if (reading.state !== 'lost') continue;
      if (resumed.has(deviceId)) reading.state = 'read';
      else this.#queue(deviceId, reading);
    }
  }

  #queue(deviceId: string, reading: Reading): void {
    reading.state = 'subscribing';
    this.#toSubscribe.add(deviceId);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    this.#defer(() => this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    const deviceIds = [...this.#toSubscribe];
    this.#toSubscribe = new Set();
    const generation = this.#generation;
    for (let i = 0; i < deviceIds.length; i += BATCH) {
      const batch = deviceIds.slice(i, i + BATCH);
      void this.#o
        .subscribe(batch.map((deviceId) => deviceTopic(deviceId, 'up')))
        .then((granted) => this.#settle(batch, granted, generation));
    }
  }

  #settle(deviceIds: readonly string[], granted: boolean, generation: number): void {
    if (generation !== this.#generation) return; // an earlier connection's answer
    for (const deviceId of deviceIds) {
      const reading = this.#devices.get(deviceId);
      // Forgotten, or asked again meanwhile: a later answer decides.
      if (reading?.state !== 'subscribing' || this.#toSubscribe.has(deviceId)) continue;
      if (!granted) {
        reading.state = 'lost'; // tried again when the connection comes back
        drop(reading);
        continue;
      }
      reading.state = 'read';
      const waiting = reading.waiting;
      reading.waiting = [];
      for (const then of waiting) then(true);
    }
  }
}

/** What waited for a reading that will not come now hears so. */
function drop(reading: Reading): void {
  const waiting = reading.waiting;
  reading.waiting = [];
  for (const then of waiting) then(false);
}
