import type { Logger } from 'pino';
import { backoffDelay, type BackoffOptions, type RandomSource } from '../../time/backoff.js';
import type { Clock, TimerHandle } from '../../time/clock.js';
import type { Poster } from './http-poster.js';
import type { Webhook } from './webhook.js';
import { LogCode } from '../../log/log-codes.js';

/**
 * The posts to one webhook (each a message body, POSTed until the receiver takes it or the
 * retries run out), in order: one request in flight at a time, so the receiver sees messages
 * in the order the hub got them. A failed attempt (network error, timeout, 5xx, 408, 429) is
 * retried after a jittered exponential back-off, at most `maxAttempts` times in all; any other
 * status (2xx accepted, 3xx/4xx refused) ends the post. Beyond `maxPending` waiting bodies, or
 * `maxPendingBytes` of them (UTF-8), the oldest are dropped and counted: a dead receiver costs
 * bounded memory, and since each webhook has its own queue it never delays the device path or
 * the other webhooks. The newest body is always kept, so the bytes can pass the bound by at most
 * one body (one device frame, MAX_FRAME_BYTES). A dropped body is let go at once: its slot was
 * kept until the loop took the next post, which with a dead receiver (six attempts, each up to
 * `timeoutMs`, and the back-off between) held every body pushed in those minutes, far beyond
 * `maxPending`.
 *
 * README and the log codes call a post a delivery (`webhook_delivery_failed`); the code says
 * post, because here delivery means the agent's acknowledged, seq-numbered delivery
 * (docs/glossary.md).
 *
 *     idle ──push──▶ posting ──2xx / given up──▶ (next, or idle)
 *                      └─ failed ─▶ waiting (back-off) ─▶ posting
 */
export interface PostPolicy {
  maxPending: number;
  maxPendingBytes: number;
  maxAttempts: number;
  timeoutMs: number;
  backoff: BackoffOptions;
}

export const DEFAULT_POST_POLICY: PostPolicy = {
  maxPending: 1_000,
  /** 1,000 bodies of a typical message are well under; a few large frames reach it. */
  maxPendingBytes: 16 * 1024 * 1024,
  maxAttempts: 6,
  timeoutMs: 10_000,
  backoff: { initialDelayMs: 500, maxDelayMs: 30_000 },
};

export interface PostQueueOptions {
  webhook: Webhook;
  policy: PostPolicy;
  post: Poster;
  clock: Clock;
  random: RandomSource;
  logger: Logger;
}

export interface PostStats {
  pending: number;
  /** Answered 2xx. */
  accepted: number;
  failed: number;
  dropped: number;
}

interface Pending {
  body: string;
  bytes: number;
}

/** What a slot holds once its body was taken or dropped: nothing that costs memory. */
const GONE: Pending = { body: '', bytes: 0 };

export class PostQueue {
  readonly #o: PostQueueOptions;
  /** Waiting bodies from `#head` on; the slots before it are GONE until compacted. */
  #pending: Pending[] = [];
  #head = 0;
  #pendingBytes = 0;
  #running = false;
  #stopped = false;
  readonly #abort = new AbortController();
  #wake: (() => void) | null = null;
  #retryTimer: TimerHandle | null = null;
  #loop: Promise<void> = Promise.resolve();
  readonly #stats = { accepted: 0, failed: 0, dropped: 0 };

  constructor(options: PostQueueOptions) {
    this.#o = options;
  }

  push(body: string): void {
    if (this.#stopped) return;
    const bytes = Buffer.byteLength(body);
    this.#pending.push({ body, bytes });
    this.#pendingBytes += bytes;
    const { maxPending, maxPendingBytes } = this.#o.policy;
    while (
      this.#waiting() > maxPending ||
      (this.#pendingBytes > maxPendingBytes && this.#waiting() > 1)
    )
      this.#dropOldest();
    this.#compact();
    if (!this.#running) {
      this.#running = true;
      this.#loop = this.#run();
    }
  }

  #waiting(): number {
    return this.#pending.length - this.#head;
  }

  /** Takes the oldest waiting body out of the queue (its slot no longer holds it). */
  #take(): string {
    const { body, bytes } = this.#pending[this.#head] as Pending;
    this.#pending[this.#head] = GONE;
    this.#pendingBytes -= bytes;
    this.#head++;
    return body;
  }

  #dropOldest(): void {
    this.#take();
    this.#stats.dropped++;
    if (this.#stats.dropped === 1 || this.#stats.dropped % 1000 === 0) {
      this.#o.logger.warn(
        {
          code: LogCode.webhookQueueFull,
          webhook: this.#o.webhook.id,
          dropped: this.#stats.dropped,
        },
        'webhook is not keeping up: dropping its oldest pending deliveries',
      );
    }
  }

  /** UTF-8 bytes of the waiting bodies (for tests and diagnostics). */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  stats(): PostStats {
    return { pending: this.#waiting(), ...this.#stats };
  }

  /** Abandons what is pending and aborts the request in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    if (this.#retryTimer) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopped && this.#head < this.#pending.length) {
      // Taken out before it is sent, so a push() that overflows drops only waiting bodies.
      const body = this.#take();
      this.#compact();
      await this.#post(body);
    }
    this.#running = false;
  }

  async #post(body: string): Promise<void> {
    const { webhook, policy, logger } = this.#o;
    for (let attempt = 0; attempt < policy.maxAttempts && !this.#stopped; attempt++) {
      if (attempt > 0) await this.#sleep(backoffDelay(attempt - 1, policy.backoff, this.#o.random));
      if (this.#stopped) return;
      const outcome = await this.#attempt(body);
      if (outcome.kind === 'accepted') {
        this.#stats.accepted++;
        return;
      }
      if (outcome.kind === 'refused') {
        this.#stats.failed++;
        logger.warn(
          { code: LogCode.webhookDeliveryFailed, webhook: webhook.id, status: outcome.status },
          'webhook refused a delivery; not retrying',
        );
        return;
      }
      logger.debug(
        { webhook: webhook.id, attempt, reason: outcome.reason },
        'webhook attempt failed',
      );
    }
    if (this.#stopped) return;
    this.#stats.failed++;
    logger.warn(
      { code: LogCode.webhookDeliveryFailed, webhook: webhook.id, attempts: policy.maxAttempts },
      'webhook delivery failed after its retries; dropped',
    );
  }

  async #attempt(
    body: string,
  ): Promise<
    { kind: 'accepted' } | { kind: 'refused'; status: number } | { kind: 'retry'; reason: string }
  > {
    const { webhook, policy, clock } = this.#o;
    const attempt = new AbortController();
    const abort = (): void => attempt.abort();
    this.#abort.signal.addEventListener('abort', abort, { once: true });
    const timer = clock.setTimeout(abort, policy.timeoutMs);
    try {
      const status = await this.#o.post(
        { url: webhook.url, headers: webhook.headers ?? {}, body },
        attempt.signal,
      );
      if (status >= 200 && status < 300) return { kind: 'accepted' };
      if (status >= 500 || status === 429 || status === 408)
        return { kind: 'retry', reason: `HTTP ${status}` };
      return { kind: 'refused', status };
    } catch (err) {
      const reason = attempt.signal.aborted
        ? `no answer within ${policy.timeoutMs} ms`
        : (err as Error).message;
      return { kind: 'retry', reason };
    } finally {
      clock.clearTimeout(timer);
      this.#abort.signal.removeEventListener('abort', abort);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = null;
        resolve();
      };
      this.#retryTimer = this.#o.clock.setTimeout(() => this.#wake?.(), ms);
    });
  }

  #compact(): void {
    if (this.#head === this.#pending.length) {
      this.#pending = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
  }
}
