import { PeriodicTimer } from '../time/periodic-timer.js';
import type { Clock } from '../time/clock.js';
import type { AgentContext, Feature } from './agent.js';
import { LogCode } from '../log/log-codes.js';

export interface VitalsOptions {
  intervalMs: number;
  clock: Clock;
  /** process.memoryUsage by default. */
  memoryUsage?: () => NodeJS.MemoryUsage;
  /** More figures for the line, by name (the local apps' queues); read at each line. */
  figures?: Readonly<Record<string, () => unknown>>;
}

/**
 * A periodic `vitals` log line: what the agent process holds (resident memory, V8 heap, buffers),
 * its outbox and its link. An operator sees slow growth in the journal without attaching a
 * debugger or restarting the agent with other flags, and the soak reads the heap figure from it
 * (the heap is only visible from inside the process).
 */
export class VitalsFeature implements Feature {
  readonly name = 'vitals';
  readonly #o: VitalsOptions;
  readonly #memoryUsage: () => NodeJS.MemoryUsage;
  #timer: PeriodicTimer | null = null;
  #startedAt = 0;

  constructor(options: VitalsOptions) {
    if (!(options.intervalMs > 0)) {
      throw new RangeError(`vitals intervalMs must be positive, got ${options.intervalMs}`);
    }
    this.#o = options;
    this.#memoryUsage = options.memoryUsage ?? (() => process.memoryUsage());
  }

  capabilities(): string[] {
    return [];
  }

  start(context: AgentContext): void {
    this.#startedAt = this.#o.clock.now();
    this.#timer = new PeriodicTimer(this.#o.clock, () => this.#log(context));
    this.#timer.start(this.#o.intervalMs, this.#o.intervalMs);
  }

  async stop(): Promise<void> {
    this.#timer?.stop();
    this.#timer = null;
  }

  #log(context: AgentContext): void {
    const memory = this.#memoryUsage();
    context.logger.info(
      {
        code: LogCode.vitals,
        uptimeS: Math.round((this.#o.clock.now() - this.#startedAt) / 1000),
        memory: {
          rss: memory.rss,
          heapUsed: memory.heapUsed,
          heapTotal: memory.heapTotal,
          external: memory.external,
          arrayBuffers: memory.arrayBuffers,
        },
        link: context.status().kind,
        outbox: context.outbox.stats(),
        ...Object.fromEntries(
          Object.entries(this.#o.figures ?? {}).map(([name, read]) => [name, read()]),
        ),
      },
      'agent vitals',
    );
  }
}
