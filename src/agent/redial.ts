import type { Logger } from 'pino';
import {
  authRejectedDelay,
  backoffDelay,
  type BackoffOptions,
  type RandomSource,
} from '../time/backoff.js';
import type { Clock, TimerHandle } from '../time/clock.js';
import { LogCode } from '../log/log-codes.js';
import type { ConnectionStatus } from './connection-status.js';

/**
 * The retry schedule both links share: the attempt counter (reset only on `welcome`, so a hub
 * that accepts and then drops us keeps backing off), the delay for each failure, the
 * `auth_rejected` line once per streak, and one retry timer, so there is never more than one
 * dial (or hello) waiting.
 */
export interface RedialOptions {
  backoff: BackoffOptions;
  clock: Clock;
  random: RandomSource;
  logger: Logger;
}

/** Why a link failed: the first cause seen (its log code) and words for the log. */
export interface LinkFailure {
  code: string;
  message: string;
}

export interface RedialPlan {
  /** The link had been welcomed: its failure is the first of a new streak. */
  wasWelcomed: boolean;
  /** The caller's own delay (a hub restarting); a credentials refusal still waits the long one. */
  delayMs?: number;
  /** Logs the failure; not called for a refusal of the credentials, which is logged here. */
  log(): void;
}

export class Redial {
  readonly #o: RedialOptions;
  #attempt = 0;
  #lastAuthRejected = false;
  #timer: TimerHandle | null = null;

  constructor(options: RedialOptions) {
    this.#o = options;
  }

  /** The number of the next dial since the last welcome, from 1. */
  get attempt(): number {
    return this.#attempt + 1;
  }

  /** The hub welcomed us: the next failure starts from the first delay. */
  welcomed(): void {
    this.#attempt = 0;
    this.#lastAuthRejected = false;
  }

  /** Logs `failure`, runs `retry` after its delay, and returns the back-off status to show. */
  schedule(
    failure: LinkFailure,
    plan: RedialPlan,
    retry: () => void,
  ): Extract<ConnectionStatus, { kind: 'backoff' }> {
    const { backoff, random, logger, clock } = this.#o;
    let delayMs: number;
    if (failure.code === LogCode.authRejected) {
      // Once per streak: the operator needs to know, the log does not need 1000 copies.
      if (!this.#lastAuthRejected) logger.error({ code: failure.code }, failure.message);
      this.#lastAuthRejected = true;
      delayMs = authRejectedDelay(backoff, random);
    } else {
      plan.log();
      delayMs = plan.delayMs ?? backoffDelay(this.#attempt, backoff, random);
    }
    if (!plan.wasWelcomed) this.#attempt++;
    this.cancel();
    this.#timer = clock.setTimeout(() => {
      this.#timer = null;
      retry();
    }, delayMs);
    return { kind: 'backoff', attempt: this.attempt, delayMs, reason: failure.code };
  }

  /** Drops the waiting retry, if any. */
  cancel(): void {
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
