import { join } from 'node:path';
import { PinnedFile } from '../pinned-file.js';
import { parseNetDev } from '../proc-text.js';
import { round2, type StreamSource } from '../stream-source.js';

/**
 * `network.rx` / `network.tx`: bytes per second over the configured interfaces (all but `lo`
 * when none are configured) since the previous sample, from /proc/net/dev. A counter that
 * goes backwards (the interface was re-created) counts as 0 for that window, not a negative
 * rate.
 */
export type NetworkDirection = 'rx' | 'tx';

export class NetworkSource implements StreamSource {
  readonly name: string;
  readonly #direction: NetworkDirection;
  readonly #file: PinnedFile;
  readonly #interfaces: ReadonlySet<string>;
  readonly #now: () => number;
  #previous = new Map<string, number>();
  #previousAt = 0;

  constructor(options: {
    direction: NetworkDirection;
    procRoot: string;
    interfaces: readonly string[];
    /** Monotonic milliseconds. */
    now: () => number;
  }) {
    this.#direction = options.direction;
    this.name = `network.${options.direction}`;
    this.#file = new PinnedFile(join(options.procRoot, 'net', 'dev'));
    this.#interfaces = new Set(options.interfaces);
    this.#now = options.now;
  }

  prime(): void {
    this.#previousAt = this.#now();
    this.#previous = this.#counters();
  }

  read(): number {
    const at = this.#now();
    const counters = this.#counters();
    let bytes = 0;
    for (const [name, count] of counters) {
      const before = this.#previous.get(name);
      if (before !== undefined && count >= before) bytes += count - before;
    }
    const seconds = (at - this.#previousAt) / 1000;
    this.#previous = counters;
    this.#previousAt = at;
    // Unprimed, `previous` is empty and the first window counts nothing.
    return seconds > 0 ? round2(bytes / seconds) : 0;
  }

  close(): void {
    this.#file.close();
  }

  #counters(): Map<string, number> {
    const counters = new Map<string, number>();
    for (const entry of parseNetDev(this.#file.read())) {
      const wanted =
        this.#interfaces.size > 0 ? this.#interfaces.has(entry.name) : entry.name !== 'lo';
      if (wanted) counters.set(entry.name, entry[this.#direction]);
    }
    if (this.#interfaces.size > 0 && counters.size === 0) {
      throw new Error(`none of the interfaces ${[...this.#interfaces].join(', ')} exists`);
    }
    return counters;
  }
}
