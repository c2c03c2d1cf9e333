import type { Logger } from 'pino';
import type { Clock } from '../time/clock.js';
import { Deadband, type DeadbandSettings } from './deadband.js';
import { PeriodicTimer } from '../time/periodic-timer.js';
import { SampleError, SampleErrorCode, type StreamSource } from './stream-source.js';

/**
 * One stream being sampled: its source on a drift-free timer, through its deadband (when it has
 * one), out through `send`. A failing stream is reported once per streak (a warning and one
 * `error` to the hub), not once per interval; its recovery is logged. An asynchronous read
 * (a command) that is still running when the next slot comes makes that slot be skipped, so a
 * slow sensor tool never runs twice at once.
 */
export interface StreamTaskOptions {
  source: StreamSource;
  clock: Clock;
  logger: Logger;
  send(stream: string, ts: string, value: number): void;
  reportError(error: SampleError): void;
}

export interface StreamSchedule {
  intervalMs: number;
  /** null: every sample is sent. */
  deadband: DeadbandSettings | null;
}

export class StreamTask {
  readonly #o: StreamTaskOptions;
  readonly #timer: PeriodicTimer;
  #schedule: StreamSchedule | null = null;
  #deadband: Deadband | null = null;
  #inFlight = false;
  #failing = false;
  #overlapsSkipped = 0;

  constructor(options: StreamTaskOptions) {
    this.#o = options;
    this.#timer = new PeriodicTimer(options.clock, () => this.#tick());
  }

  get name(): string {
    return this.#o.source.name;
  }

  get schedule(): StreamSchedule | null {
    return this.#schedule;
  }

  /** Slots skipped because the previous read (a command) was still running. */
  get overlapsSkipped(): number {
    return this.#overlapsSkipped;
  }

  /**
   * Starts sampling, or changes the rate or deadband of a running stream. A new interval is
   * re-anchored at now + `firstDelayMs`; an unchanged one keeps its slots.
   */
  apply(schedule: StreamSchedule, firstDelayMs: number): void {
    const previous = this.#schedule;
    this.#schedule = schedule;
    if (!sameDeadband(previous?.deadband ?? null, schedule.deadband)) {
      this.#deadband = schedule.deadband ? new Deadband(schedule.deadband) : null;
    }
    if (previous?.intervalMs === schedule.intervalMs && this.#timer.running) return;
    if (!previous) this.#prime();
    this.#timer.start(schedule.intervalMs, firstDelayMs);
  }

  stop(): void {
    this.#timer.stop();
    this.#schedule = null;
  }

  /** Runs one sample now, outside the timer (the benchmark's and the tests' entry point). */
  sampleNow(): void {
    this.#tick();
  }

  #prime(): void {
    try {
      this.#o.source.prime?.();
    } catch {
      // The first read reports it, once.
    }
  }

  #tick(): void {
    if (this.#inFlight) {
      this.#overlapsSkipped++;
      this.#o.logger.debug({ stream: this.name }, 'previous read still running; slot skipped');
      return;
    }
    const ts = this.#o.clock.date().toISOString();
    let result: number | Promise<number>;
    try {
      result = this.#o.source.read();
    } catch (err) {
      this.#failed(err);
      return;
    }
    if (typeof result === 'number') {
      this.#deliver(ts, result);
      return;
    }
    this.#inFlight = true;
    result.then(
      (value) => {
        this.#inFlight = false;
        this.#deliver(ts, value);
      },
      (err: unknown) => {
        this.#inFlight = false;
        this.#failed(err);
      },
    );
  }

  #deliver(ts: string, value: number): void {
    if (!Number.isFinite(value)) {
      this.#failed(new Error('not a finite number'));
      return;
    }
    if (this.#failing) {
      this.#failing = false;
      this.#o.logger.info({ stream: this.name }, `telemetry stream ${this.name} reads again`);
    }
    if (this.#schedule === null) return; // stopped while a command ran
    if (this.#deadband && !this.#deadband.admit(value)) return;
    this.#o.send(this.name, ts, value);
  }

  #failed(err: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    const error =
      err instanceof SampleError
        ? err
        : new SampleError(SampleErrorCode.readFailed, `${this.name}: ${(err as Error).message}`, {
            cause: err,
          });
    this.#o.logger.warn(
      { code: error.code, stream: this.name },
      `telemetry stream failed (reported once until it recovers): ${error.message}`,
    );
    this.#o.reportError(error);
  }
}

function sameDeadband(a: DeadbandSettings | null, b: DeadbandSettings | null): boolean {
  return (
    a === b ||
    (a !== null &&
      b !== null &&
      a.threshold === b.threshold &&
      a.maxSilentIntervals === b.maxSilentIntervals)
  );
}
