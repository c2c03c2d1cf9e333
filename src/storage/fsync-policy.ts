import type { Clock } from '../time/clock.js';

/**
 * When written records are forced to the medium. Every flush already reaches the kernel (so
 * `kill -9` loses nothing written); fsync is about power loss, and on an SD card each one costs
 * a flash program cycle:
 *
 * - `always`: after every batched write (safest, most wear);
 * - `interval`: at most once per `fsyncIntervalMs` while there are unsynced writes (default);
 * - `never`: leave it to the kernel's writeback.
 */
export const FSYNC_POLICIES = ['always', 'interval', 'never'] as const;

export type FsyncPolicy = (typeof FSYNC_POLICIES)[number];

export class FsyncSchedule {
  readonly #policy: FsyncPolicy;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  #lastSyncMs: number;

  constructor(policy: FsyncPolicy, intervalMs: number, clock: Clock) {
    this.#policy = policy;
    this.#intervalMs = intervalMs;
    this.#clock = clock;
    this.#lastSyncMs = clock.now();
  }

  /** After a write: should the written files be synced now? */
  due(): boolean {
    if (this.#policy === 'always') return true;
    if (this.#policy === 'never') return false;
    return this.#clock.now() - this.#lastSyncMs >= this.#intervalMs;
  }

  synced(): void {
    this.#lastSyncMs = this.#clock.now();
  }

  get policy(): FsyncPolicy {
    return this.#policy;
  }
}
