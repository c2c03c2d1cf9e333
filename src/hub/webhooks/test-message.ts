import { isoNow, type Clock } from '../../time/clock.js';
import type { Poster } from './http-poster.js';
import { webhookBody, type WebhookMessage } from './webhook-message.js';
import type { Webhook } from './webhook.js';

/**
 * "Send test message": one POST to a webhook, in the platform's shape and marked as a test, so
 * whoever sets up a receiver can see it answer without waiting for a device. The message is
 * what the webhook would get from a device of its Type and Channel, with `"test": true` in the
 * envelope and in the payload (a payload-only webhook sees only the payload):
 *
 *     { "msg": { "from": "iottly-hub", "timestamp", "devicetimestamp": null, "type", "channel",
 *                "message_type": "webhook_test", "test": true,
 *                "payload": { "test": true, "text": "…" } } }
 *
 * Sent once, never retried, within `timeoutMs`; the outcome is the receiver's status, or why
 * there was none.
 */
export const TEST_MESSAGE_FROM = 'iottly-hub';
export const TEST_MESSAGE_TYPE = 'webhook_test';

export type TestOutcome =
  { status: number } | { status: null; failure: 'timeout' | 'unreachable'; message: string };

export interface TestMessageOptions {
  webhook: Webhook;
  post: Poster;
  clock: Clock;
  timeoutMs: number;
  /** Aborts the request (the hub stopping); the outcome is then `unreachable`. */
  signal: AbortSignal;
}

export function testMessage(webhook: Webhook, sentAt: string): WebhookMessage & { test: true } {
  return {
    from: TEST_MESSAGE_FROM,
    timestamp: sentAt,
    devicetimestamp: null,
    type: webhook.type,
    channel: webhook.channel ?? null,
    message_type: TEST_MESSAGE_TYPE,
    test: true,
    payload: { test: true, text: `a test message for the webhook "${webhook.description}"` },
  };
}

export async function sendTestMessage({
  webhook,
  post,
  clock,
  timeoutMs,
  signal,
}: TestMessageOptions): Promise<TestOutcome> {
  const attempt = new AbortController();
  let timedOut = false;
  const timer = clock.setTimeout(() => {
    timedOut = true;
    attempt.abort();
  }, timeoutMs);
  const stop = (): void => attempt.abort();
  signal.addEventListener('abort', stop, { once: true });
  try {
    const body = webhookBody(webhook, testMessage(webhook, isoNow(clock)));
    const status = await post(
      { url: webhook.url, headers: webhook.headers ?? {}, body },
      attempt.signal,
    );
    return { status };
  } catch (err) {
    if (timedOut)
      return { status: null, failure: 'timeout', message: `no answer within ${timeoutMs} ms` };
    return { status: null, failure: 'unreachable', message: reason(err) };
  } finally {
    clock.clearTimeout(timer);
    signal.removeEventListener('abort', stop);
  }
}

/** fetch says "fetch failed"; the cause says why (ECONNREFUSED 127.0.0.1:9, ENOTFOUND, …). */
function reason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.message === 'string') return cause.message.slice(0, 200);
  return String((err as Error).message ?? err).slice(0, 200);
}
