import type { Logger } from 'pino';
import type { AgentContext } from '../agent/agent.js';
import { describeStatus, type ConnectionStatus } from '../agent/connection-status.js';
import type { Clock } from '../time/clock.js';
import { connectionLoopProblem, type LivenessLimits } from './connection-liveness.js';
import type { NotifyEnvironment } from './notify-environment.js';
import { NotifySender, type NotifySpawn } from './notify-sender.js';
import { Watchdog } from './watchdog.js';
import { LogCode } from '../log/log-codes.js';

/**
 * Tells systemd how the agent is doing: `READY=1` once configuration is loaded and the
 * connection loop has started (not when the hub answers: a device offline at boot is still a
 * started service), `STATUS=` on every connection change, `WATCHDOG=1` while healthy, and
 * `STOPPING=1` on shutdown. Without NOTIFY_SOCKET (not under systemd) every method is a no-op.
 */
export interface ServiceNotifierOptions {
  environment: NotifyEnvironment;
  clock: Clock;
  logger: Logger;
  liveness: LivenessLimits;
  /** PATH to find systemd-notify in. */
  path: string;
  spawn?: NotifySpawn;
  /** Longest `stopping()` waits for STOPPING=1 to reach systemd. */
  flushTimeoutMs?: number;
}

type StatusSource = Pick<AgentContext, 'status' | 'onStatus'>;

const DEFAULT_FLUSH_TIMEOUT_MS = 2_000;

export class ServiceNotifier {
  readonly #o: ServiceNotifierOptions;
  readonly #sender: NotifySender | null;
  #watchdog: Watchdog | null = null;
  #unsubscribe: (() => void) | null = null;
  #enteredAt = 0;

  constructor(options: ServiceNotifierOptions) {
    this.#o = options;
    const { environment, logger } = options;
    for (const problem of environment.problems)
      logger.warn({ code: LogCode.systemdEnvInvalid }, problem);
    this.#sender =
      environment.socket === null
        ? null
        : new NotifySender({
            socket: environment.socket,
            path: options.path,
            clock: options.clock,
            logger,
            ...(options.spawn ? { spawn: options.spawn } : {}),
          });
  }

  /** Call once the agent has started its connection loop. */
  ready(agent: StatusSource): void {
    const sender = this.#sender;
    if (sender === null || this.#unsubscribe !== null) return;
    const { clock, environment, logger } = this.#o;
    this.#enteredAt = clock.now();
    sender.send({ READY: '1', STATUS: describeStatus(agent.status()) });
    this.#unsubscribe = agent.onStatus((status) => {
      this.#enteredAt = clock.now();
      sender.send({ STATUS: describeStatus(status) });
    });
    if (environment.watchdogIntervalMs !== null) {
      this.#watchdog = new Watchdog({
        intervalMs: environment.watchdogIntervalMs,
        clock,
        logger,
        check: () => this.#problem(agent.status()),
        pet: () => sender.send({ WATCHDOG: '1' }),
      });
      this.#watchdog.start();
    }
    logger.debug(
      { watchdogIntervalMs: environment.watchdogIntervalMs },
      'notifying systemd (READY=1 sent)',
    );
  }

  /** Call when shutdown begins; resolves once systemd has heard it, or after a bounded wait. */
  async stopping(): Promise<void> {
    const sender = this.#sender;
    if (sender === null) return;
    this.#watchdog?.stop();
    this.#unsubscribe?.();
    sender.send({ STOPPING: '1', STATUS: 'stopping' });
    await this.#settle(sender);
  }

  #problem(status: ConnectionStatus): string | null {
    return connectionLoopProblem(status, this.#o.clock.now() - this.#enteredAt, this.#o.liveness);
  }

  async #settle(sender: NotifySender): Promise<void> {
    const { clock } = this.#o;
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    await Promise.race([
      sender.idle(),
      new Promise<void>((resolve) => {
        timer = clock.setTimeout(resolve, this.#o.flushTimeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS);
      }),
    ]);
    if (timer) clock.clearTimeout(timer);
  }
}
