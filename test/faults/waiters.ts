/**
 * Conditions a test waits on, checked again whenever the thing watched reports news
 * (`notify()`: a frame, a broker message): waiting for the event, never polling.
 */
export class Waiters {
  readonly #waiting = new Set<() => void>();

  /** Resolves once `check()` holds (at once, or after some `notify()`); rejects after `timeoutMs`. */
  async until(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    if (check()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(waiter);
        reject(new Error(`${what()}: not within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.#waiting.delete(waiter);
        resolve();
      };
      this.#waiting.add(waiter);
    });
  }

  notify(): void {
    for (const waiter of this.#waiting) waiter();
  }
}
