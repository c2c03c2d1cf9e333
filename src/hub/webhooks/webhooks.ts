import type { Logger } from 'pino';
import type { RandomSource } from '../../time/backoff.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { ParsedFrame } from '../../protocol/parse.js';
import { isoNow, type Clock } from '../../time/clock.js';
import { uniqueId, type IdSource } from '../ids.js';
import { PostQueue, type PostPolicy, type PostStats } from './post-queue.js';
import type { Poster } from './http-poster.js';
import { webhookBody, webhookMessage, wants } from './webhook-message.js';
import { MAX_WEBHOOKS, validateWebhookSpec, type Webhook } from './webhook.js';
import { CodedError } from '../../protocol/coded-error.js';

/**
 * The hub's webhooks: at most MAX_WEBHOOKS, each with its own PostQueue. `post` is
 * called on the device path for every device message; it only builds the body and queues it,
 * so it returns at once whatever the receivers do.
 */
export class WebhookError extends CodedError {}

export interface WebhooksOptions {
  policy: PostPolicy;
  post: Poster;
  clock: Clock;
  random: RandomSource;
  ids: IdSource;
  logger: Logger;
}

interface Entry {
  webhook: Webhook;
  queue: PostQueue;
}

export class Webhooks {
  readonly #o: WebhooksOptions;
  readonly #entries = new Map<string, Entry>();

  constructor(options: WebhooksOptions) {
    this.#o = options;
  }

  /** Validates and stores a webhook; throws a WebhookError (invalid_webhook, webhook_limit). */
  add(spec: unknown): Webhook {
    const r = validateWebhookSpec(spec);
    if (!r.ok) throw new WebhookError(ErrorCode.invalidWebhook, r.error);
    if (this.#entries.size >= MAX_WEBHOOKS) {
      throw new WebhookError(
        ErrorCode.webhookLimit,
        `a hub keeps at most ${MAX_WEBHOOKS} webhooks; delete one first`,
      );
    }
    const id = uniqueId(this.#o.ids, 'wh', (candidate) => this.#entries.has(candidate));
    const webhook: Webhook = { id, ...r.value };
    const queue = new PostQueue({
      webhook,
      policy: this.#o.policy,
      post: this.#o.post,
      clock: this.#o.clock,
      random: this.#o.random,
      logger: this.#o.logger,
    });
    this.#entries.set(id, { webhook, queue });
    this.#o.logger.info(
      { webhook: id, url: redactedUrl(webhook.url), type: webhook.type, channel: webhook.channel },
      'webhook added',
    );
    return webhook;
  }

  /** Removes a webhook and abandons its pending posts; false if there is none. */
  remove(id: string): boolean {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    this.#entries.delete(id);
    void entry.queue.stop();
    this.#o.logger.info({ webhook: id }, 'webhook deleted');
    return true;
  }

  list(): Webhook[] {
    return [...this.#entries.values()].map((e) => e.webhook);
  }

  stats(id: string): PostStats | undefined {
    return this.#entries.get(id)?.queue.stats();
  }

  post(deviceId: string, frame: ParsedFrame): void {
    if (this.#entries.size === 0) return;
    const msg = webhookMessage(deviceId, frame, isoNow(this.#o.clock));
    // At most two bodies (envelope, payload only) however many webhooks take the message.
    const bodies = new Map<boolean, string>();
    for (const { webhook, queue } of this.#entries.values()) {
      if (!wants(webhook, msg)) continue;
      const payloadOnly = webhook.payload_only === true;
      let body = bodies.get(payloadOnly);
      if (body === undefined) {
        body = webhookBody(webhook, msg);
        bodies.set(payloadOnly, body);
      }
      queue.push(body);
    }
  }

  async stop(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(entries.map((e) => e.queue.stop()));
  }
}

/** A URL for logs: the query may hold a secret token. */
function redactedUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}
