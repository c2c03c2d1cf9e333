/**
 * The device's `seq` on every frame a stream client receives. The soak's client subscribes to
 * every stream the agent sends and issues every command, so it sees every message the agent
 * makes: with acknowledged delivery each seq must arrive exactly once, in order, however often
 * the link drops. A gap is a lost message, a repeat or a step back is a duplicate.
 */
export class SeqLedger {
  #last = 0;
  #received = 0;
  #missing = 0;
  #repeated = 0;
  readonly #gaps: Array<{ after: number; next: number; at: string }> = [];

  /** `at`: when it arrived, for the report (a gap is easier to explain knowing when). */
  observe(seq: number, at = ''): void {
    this.#received++;
    if (seq <= this.#last) {
      this.#repeated++;
      return;
    }
    if (this.#last > 0 && seq > this.#last + 1) {
      this.#missing += seq - this.#last - 1;
      if (this.#gaps.length < 10) this.#gaps.push({ after: this.#last, next: seq, at });
    }
    this.#last = seq;
  }

  get last(): number {
    return this.#last;
  }

  summary(): { received: number; last: number; missing: number; repeated: number; gaps: string } {
    return {
      received: this.#received,
      last: this.#last,
      missing: this.#missing,
      repeated: this.#repeated,
      gaps: this.#gaps.map((g) => `${g.after}→${g.next}${g.at ? ` at ${g.at}` : ''}`).join(', '),
    };
  }
}
