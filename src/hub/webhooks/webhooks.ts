import type { Logger } from 'pino';
import type { RandomSource } from '../../time/backoff.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { ParsedFrame } from '../../protocol/parse.js';
import { isoNow, type Clock } from '../../time/clock.js';
import { uniqueId, type IdSource } from '../ids.js';
import { PostQueue, type PostPolicy, type PostStats } from './post-queue.js';
import type { Poster } from './http-poster.js';
import { webhookBody, webhookMessage, wants, type WebhookMessage } from './webhook-message.js';
import { MAX_WEBHOOKS, validateWebhookList, validateWebhookSpec, type Webhook } from './webhook.js';
import { CodedError } from '../../protocol/coded-error.js';
import { sendTestMessage, type TestOutcome } from './test-message.js';

/**
 * The hub's webhooks: at most MAX_WEBHOOKS, each with its own PostQueue. `post` is
 * called on the device path for every device message; it only builds the body and queues it,
 * so it returns at once whatever the receivers do.
 *
 * Hubs over one broker share one set (docs/protocol.md, "MQTT 5 transport"): a local `add` or
 * `remove` tells the `onChange` listeners the whole new set, which they publish; a set published
 * by another hub comes back in through `replaceAll`, which tells no listener, so a set is never
 * echoed back and forth.
 */
export class WebhookError extends CodedError {}

export type WebhookSetListener = (list: Webhook[]) => void;

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
  #entries = new Map<string, Entry>();
  readonly #listeners = new Set<WebhookSetListener>();
  /** Webhooks with a test message in flight: one at a time each, so a loop cannot flood one. */
  readonly #testing = new Set<string>();
  readonly #stopTests = new AbortController();
  #stopped = false;

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
    this.#entries.set(id, this.#start(webhook));
    this.#o.logger.info(
      { webhook: id, url: redactedUrl(webhook.url), type: webhook.type, channel: webhook.channel },
      'webhook added',
    );
    this.#changed();
    return webhook;
  }

  /** Removes a webhook and abandons its pending posts; false if there is none. */
  remove(id: string): boolean {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    this.#entries.delete(id);
    void entry.queue.stop();
    this.#o.logger.info({ webhook: id }, 'webhook deleted');
    this.#changed();
    return true;
  }

  /**
   * Calls `listener` with the whole new set (real header values: what the other hubs post with)
   * after every local `add` and `remove`; not after `replaceAll`. Returns its unsubscribe.
   * A listener that throws is logged; the change it was told about stands.
   */
  onChange(listener: WebhookSetListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Takes the set another hub published, ids and all: a webhook kept (same id, same definition)
   * keeps its post queue and what is pending in it; one that is gone has its queue stopped; a new
   * one (or a changed definition under an old id, whose pending bodies were built for the old
   * one) gets a new queue. Throws a WebhookError (invalid_webhook, webhook_limit) for a set this
   * hub would not have accepted itself, and changes nothing then. After `stop()` it does nothing.
   */
  replaceAll(list: readonly Webhook[]): void {
    const r = validateWebhookList(list);
    if (!r.ok) throw new WebhookError(r.code, r.error);
    if (this.#stopped) return;
    const next = new Map<string, Entry>();
    const started: string[] = [];
    for (const webhook of r.value) {
      const old = this.#entries.get(webhook.id);
      if (old && sameDefinition(old.webhook, webhook)) {
        next.set(webhook.id, old);
      } else {
        next.set(webhook.id, this.#start(webhook));
        started.push(webhook.id);
      }
    }
    const stopped: string[] = [];
    for (const [id, entry] of this.#entries) {
      if (next.get(id) === entry) continue;
      void entry.queue.stop();
      stopped.push(id);
    }
    this.#entries = next;
    // A hub hears its own publications back too: an unchanged set is not news.
    const level = started.length + stopped.length > 0 ? 'info' : 'debug';
    this.#o.logger[level](
      { webhooks: [...next.keys()], started, stopped },
      'webhook set replaced by another hub',
    );
  }

  /**
   * Sends the webhook a test message (test-message.ts) at once, beside its queue, and resolves
   * with the receiver's status or why there was none, within the post timeout. Undefined when
   * there is no such webhook; throws a WebhookError (busy) while its previous test is in flight.
   */
  async sendTest(id: string): Promise<TestOutcome | undefined> {
    const webhook = this.#entries.get(id)?.webhook;
    if (webhook === undefined) return undefined;
    if (this.#testing.has(id)) {
      throw new WebhookError(ErrorCode.busy, `a test message to "${id}" is in flight already`);
    }
    this.#testing.add(id);
    try {
      const outcome = await sendTestMessage({
        webhook,
        post: this.#o.post,
        clock: this.#o.clock,
        timeoutMs: this.#o.policy.timeoutMs,
        signal: this.#stopTests.signal,
      });
      this.#o.logger.info({ webhook: id, ...outcome }, 'webhook test message sent');
      return outcome;
    } finally {
      this.#testing.delete(id);
    }
  }

  list(): Webhook[] {
    return [...this.#entries.values()].map((e) => e.webhook);
  }

  stats(id: string): PostStats | undefined {
    return this.#entries.get(id)?.queue.stats();
  }

  post(deviceId: string, frame: ParsedFrame): void {
    if (this.#entries.size === 0) return;
    this.postMessage(webhookMessage(deviceId, frame, isoNow(this.#o.clock)));
  }

  /** Queues `msg` for every webhook that takes it (its type and channel); returns at once. */
  postMessage(msg: WebhookMessage): void {
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
    this.#stopped = true;
    this.#stopTests.abort();
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(entries.map((e) => e.queue.stop()));
  }

  #start(webhook: Webhook): Entry {
    const queue = new PostQueue({
      webhook,
      policy: this.#o.policy,
      post: this.#o.post,
      clock: this.#o.clock,
      random: this.#o.random,
      logger: this.#o.logger,
    });
    return { webhook, queue };
  }

  #changed(): void {
    if (this.#listeners.size === 0) return;
    for (const listener of this.#listeners) {
      try {
        listener(this.list());
      } catch (err) {
        this.#o.logger.error({ err }, 'webhook set listener failed');
      }
    }
  }
}

/** Same definition, field by field (a set arrives as JSON, so key order may differ). */
function sameDefinition(a: Webhook, b: Webhook): boolean {
  return (
    a.description === b.description &&
    a.url === b.url &&
    a.type === b.type &&
    a.channel === b.channel &&
    (a.payload_only === true) === (b.payload_only === true) &&
    sameHeaders(a.headers ?? {}, b.headers ?? {})
  );
}

function sameHeaders(a: Record<string, string>, b: Record<string, string>): boolean {
  const names = Object.keys(a);
  return names.length === Object.keys(b).length && names.every((name) => a[name] === b[name]);
}

/** A URL for logs: the query may hold a secret token. */
function redactedUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}
