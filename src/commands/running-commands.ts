import { ErrorCode } from '../protocol/error-codes.js';

/**
 * The commands running on this device, by request id: at most `maxConcurrent` at once (one
 * more is refused at once with `busy`, never queued behind a command that may run for an hour),
 * and the ids of the last RECENT_IDS that ended, so that a command delivered again is known
 * (see `knows`).
 */
export type Admission<T> = { ok: true; entry: T } | { ok: false; code: ErrorCode; message: string };

/** Ended commands whose ids are kept: a few minutes of commands on a busy device, ~50 KiB. */
export const RECENT_IDS = 256;

export class RunningCommands<T> {
  readonly #maxConcurrent: number;
  readonly #byId = new Map<string, T>();
  /** Ids of commands that ended, oldest first (a Set keeps insertion order). */
  readonly #ended = new Set<string>();

  constructor(maxConcurrent: number) {
    this.#maxConcurrent = maxConcurrent;
  }

  /** Whether a command under `id` is running or was among the last RECENT_IDS to end. */
  knows(id: string): boolean {
    return this.#byId.has(id) || this.#ended.has(id);
  }

  /**
   * Checks the limit and, when it allows, records `create()`'s entry under `id` (one the caller
   * checked it does not know).
   */
  admit(id: string, create: () => T): Admission<T> {
    if (this.#byId.size >= this.#maxConcurrent) {
      return {
        ok: false,
        code: ErrorCode.busy,
        message: `${this.#byId.size} commands are running, the most this device allows (commands.maxConcurrent)`,
      };
    }
    const entry = create();
    this.#byId.set(id, entry);
    return { ok: true, entry };
  }

  get(id: string): T | undefined {
    return this.#byId.get(id);
  }

  release(id: string): void {
    if (!this.#byId.delete(id)) return;
    this.#ended.add(id);
    if (this.#ended.size > RECENT_IDS)
      this.#ended.delete(this.#ended.values().next().value as string);
  }

  ids(): string[] {
    return [...this.#byId.keys()];
  }

  values(): T[] {
    return [...this.#byId.values()];
  }

  get size(): number {
    return this.#byId.size;
  }
}
