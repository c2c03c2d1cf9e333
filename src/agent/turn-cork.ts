/**
 * Lets the frames one turn of the event loop sends leave in one system call. A telemetry tick
 * sends a frame per stream (three at the defaults), each its own `writev` and TCP segment; the
 * hub then reads each apart. Corking the socket at the first frame of a turn and uncorking it
 * after the turn (`afterTurn`, setImmediate in the agent: after every timer and I/O callback of
 * this turn, so the three streams' timers count as one) hands the kernel all of them at once.
 * Nothing waits longer than the current turn, and `bufferedAmount` counts what is held, so the
 * outbox's window still sees it.
 */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

export class TurnCork {
  readonly #afterTurn: (run: () => void) => void;
  #stream: Corkable | null = null;
  #corked = false;

  constructor(afterTurn: (run: () => void) => void) {
    this.#afterTurn = afterTurn;
  }

  /** The stream to cork from now on (null: none, writes go out as they come). */
  attach(stream: Corkable | null): void {
    this.#release();
    this.#stream = stream;
  }

  /** Call before each write: the first of a turn corks, and the turn's end lets them out. */
  hold(): void {
    if (this.#corked || !this.#stream) return;
    this.#corked = true;
    this.#stream.cork();
    this.#afterTurn(() => this.#release());
  }

  #release(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#stream?.uncork();
  }
}
