import type { Logger } from 'pino';
import { LogCode } from '../../log/log-codes.js';
import { parseWebhookSet, webhookSetPayload } from '../webhooks/webhook-set.js';
import type { Webhooks } from '../webhooks/webhooks.js';

/**
 * The fleet's one webhook set, kept retained on `iottly/v1/fleet/webhooks` (docs/protocol.md,
 * "The hubs"): a change on this hub (`POST`, `DELETE` on /v1/webhooks) publishes the whole new
 * set, and a set received from the MQTT broker replaces this hub's without being published
 * again. A hub that joins a fleet with no set yet publishes its own (`--webhooks FILE`); one
 * that joins a fleet that has a set takes it.
 */
export interface SharedWebhooksOptions {
  webhooks: Webhooks;
  /** Publishes the set, retained; false while the hub is not connected. */
  publish: (payload: string) => boolean;
  logger: Logger;
}

export class SharedWebhooks {
  readonly #o: SharedWebhooksOptions;
  #stopListening: (() => void) | null = null;
  /** The last set this hub published or applied, as text: its own message coming back is not news. */
  #current: string | null = null;
  #received = false;

  constructor(options: SharedWebhooksOptions) {
    this.#o = options;
  }

  start(): void {
    this.#stopListening ??= this.#o.webhooks.onChange((list) =>
      this.#publish(webhookSetPayload(list)),
    );
  }

  stop(): void {
    this.#stopListening?.();
    this.#stopListening = null;
  }

  /** The retained set arrived (or changed); an empty payload is no set. */
  received(payload: Buffer): void {
    if (payload.length === 0) return;
    const text = payload.toString('utf8');
    this.#received = true;
    if (text === this.#current) return;
    try {
      this.#o.webhooks.replaceAll(parseWebhookSet(text));
    } catch (err) {
      // A set this hub would not have taken over REST (invalid, over the limit): its own stays.
      this.#o.logger.warn(
        { code: LogCode.fleetMessageInvalid, reason: (err as Error).message },
        'webhook set of the fleet refused',
      );
      return;
    }
    this.#current = text;
    this.#o.logger.info(
      { webhooks: this.#o.webhooks.list().length },
      'webhook set of the fleet applied',
    );
  }

  /** The hub has read the fleet's retained messages: with no set there yet, its own becomes it. */
  synced(): void {
    if (this.#received) return;
    const list = this.#o.webhooks.list();
    if (list.length > 0) this.#publish(webhookSetPayload(list));
  }

  #publish(text: string): void {
    this.#current = text;
    this.#o.publish(text);
  }
}
