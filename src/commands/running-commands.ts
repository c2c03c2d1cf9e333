import { ErrorCode } from '../protocol/error-codes.js';

/**
 * The commands running on this device, by request id: at most `maxConcurrent` at once (one
 * more is refused at once with `busy`, never queued behind a command that may run for an hour)
 * and never two under one request id (`duplicate_request`).
 */
export type Admission<T> = { ok: true; entry: T } | { ok: false; code: ErrorCode; message: string };

export class RunningCommands<T> {
  readonly #maxConcurrent: number;
  readonly #byId = new Map<string, T>();

  constructor(maxConcurrent: number) {
    this.#maxConcurrent = maxConcurrent;
  }

  /** Checks the limits and, when they allow it, records `create()`'s entry under `id`. */
  admit(id: string, create: () => T): Admission<T> {
    if (this.#byId.has(id)) {
      return {
        ok: false,
        code: ErrorCode.duplicateRequest,
        message: `a command with request_id "${id}" is already running`,
      };
    }
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
    this.#byId.delete(id);
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
