import type { Clock, TimerHandle } from '../time/clock.js';

/**
 * Gathers a command's output into fewer, larger pieces: a piece leaves when `windowMs` has
 * passed since its first byte or it reached `maxBytes`, whichever comes first. One frame per
 * 20 ms instead of one per read keeps the per-frame cost (JSON, ws header, hub relay) small
 * when a command writes a line at a time; order is kept per stream.
 */
export type OutputFd = 'stdout' | 'stderr';

export interface CoalescerOptions {
  windowMs: number;
  maxBytes: number;
  clock: Clock;
  onPiece: (fd: OutputFd, bytes: Buffer) => void;
}

export const COALESCE_WINDOW_MS = 20;
export const COALESCE_MAX_BYTES = 64 * 1024;

export class OutputCoalescer {
  readonly #o: CoalescerOptions;
  readonly #pending: Record<OutputFd, { parts: Buffer[]; bytes: number }> = {
    stdout: { parts: [], bytes: 0 },
    stderr: { parts: [], bytes: 0 },
  };
  #timer: TimerHandle | null = null;

  constructor(options: CoalescerOptions) {
    this.#o = options;
  }

  push(fd: OutputFd, bytes: Buffer): void {
    if (bytes.length === 0) return;
    const pending = this.#pending[fd];
    pending.parts.push(bytes);
    pending.bytes += bytes.length;
    if (pending.bytes >= this.#o.maxBytes) this.#flushFd(fd, false);
    if (this.#hasPending() && !this.#timer) {
      this.#timer = this.#o.clock.setTimeout(() => {
        this.#timer = null;
        this.flush();
      }, this.#o.windowMs);
    }
  }

  /** Sends everything held now (stdout first), e.g. at the end of the command. */
  flush(): void {
    this.#cancelTimer();
    this.#flushFd('stdout', true);
    this.#flushFd('stderr', true);
  }

  /** Bytes held and not yet handed on. */
  get pendingBytes(): number {
    return this.#pending.stdout.bytes + this.#pending.stderr.bytes;
  }

  dispose(): void {
    this.#cancelTimer();
  }

  #flushFd(fd: OutputFd, all: boolean): void {
    const pending = this.#pending[fd];
    if (pending.bytes === 0) return;
    let joined =
      pending.parts.length === 1 ? (pending.parts[0] as Buffer) : Buffer.concat(pending.parts);
    const { maxBytes } = this.#o;
    while (joined.length >= maxBytes || (all && joined.length > 0)) {
      const piece = joined.subarray(0, maxBytes);
      joined = joined.subarray(piece.length);
      this.#o.onPiece(fd, piece);
    }
    pending.parts = joined.length > 0 ? [joined] : [];
    pending.bytes = joined.length;
    if (!this.#hasPending()) this.#cancelTimer();
  }

  #hasPending(): boolean {
    return this.pendingBytes > 0;
  }

  #cancelTimer(): void {
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
