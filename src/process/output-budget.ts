/**
 * How many output bytes a command may still produce. `take(n)` says how many of `n` new bytes
 * fit; the first time they do not all fit, the command is over its cap.
 */
export class OutputBudget {
  #left: number;
  #exceeded = false;

  constructor(maxBytes: number) {
    this.#left = maxBytes;
  }

  get exceeded(): boolean {
    return this.#exceeded;
  }

  take(bytes: number): number {
    const granted = Math.min(bytes, this.#left);
    this.#left -= granted;
    if (granted < bytes) this.#exceeded = true;
    return granted;
  }
}
