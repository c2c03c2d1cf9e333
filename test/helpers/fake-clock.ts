import type { Clock, TimerHandle } from '../../src/time/clock.js';

/**
 * A Clock whose time moves only when a test says so. Timers fire in due order during
 * `advance`, including timers that the fired callbacks schedule.
 */
interface Timer extends TimerHandle {
  id: number;
  due: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  #now = 0;
  #nextId = 1;
  #timers = new Map<number, Timer>();
  readonly epochMs: number;

  constructor(epochMs = Date.UTC(2026, 0, 1)) {
    this.epochMs = epochMs;
  }

  now(): number {
    return this.#now;
  }

  date(): Date {
    return new Date(this.epochMs + this.#now);
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { id: this.#nextId++, due: this.#now + Math.max(0, ms), fn, unref() {} };
    this.#timers.set(timer.id, timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete((handle as Timer).id);
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const next = [...this.#timers.values()]
        .filter((t) => t.due <= target)
        .sort((a, b) => a.due - b.due || a.id - b.id)[0];
      if (!next) break;
      this.#timers.delete(next.id);
      this.#now = next.due;
      next.fn();
    }
    this.#now = target;
  }

  pendingTimers(): number {
    return this.#timers.size;
  }
}
