import { decodeJson } from '../../protocol/bounded-json.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { isPlainObject } from '../../protocol/schema.js';
import { validateWebhookList, type Webhook } from './webhook.js';
import { WebhookError } from './webhooks.js';

/**
 * The fleet's webhook set as it travels between hubs, in the retained `iottly/v1/fleet/webhooks`
 * (docs/protocol.md, "MQTT 5 transport"):
 *
 *     { "webhooks": [ { "id", "description", "url", "type", "channel"?, "payload_only"?, "headers"? } ] }
 *
 * Ids and real header values travel: every hub posts with those headers, and a DELETE on any
 * hub names the webhook by the id the first one gave it. (REST masks the values; the broker's
 * ACL keeps the topic to hubs.)
 */

/**
 * MAX_WEBHOOKS definitions at their largest (200-char description, 2048-char URL, 5 headers of
 * 128 + 4096 chars) are about 118,000 chars, at most 6 bytes each once written as JSON (a lone
 * surrogate becomes `\udXXX`): 705 KB. So every set a hub accepts fits, as a `--webhooks` file
 * does; real sets are a few hundred bytes.
 */
export const MAX_WEBHOOK_SET_BYTES = 1024 * 1024;
/** `{ "webhooks": [ { "headers": {} } ] }` is 4 levels; the rest is room for fields added later. */
export const MAX_WEBHOOK_SET_DEPTH = 8;

export function webhookSetPayload(list: readonly Webhook[]): string {
  return JSON.stringify({ webhooks: list });
}

/**
 * The webhooks of a set received from another hub, each validated as POST /v1/webhooks does and
 * keeping its id. Throws a WebhookError (invalid_webhook, webhook_limit) whose message says what
 * is wrong, e.g. `webhook set: webhooks[1].url: expected https:// …`.
 */
export function parseWebhookSet(text: string): Webhook[] {
  const json = decodeJson(text, {
    maxBytes: MAX_WEBHOOK_SET_BYTES,
    maxDepth: MAX_WEBHOOK_SET_DEPTH,
  });
  if (!json.ok) throw new WebhookError(ErrorCode.invalidWebhook, `webhook set: ${json.message}`);
  if (!isPlainObject(json.value)) {
    throw new WebhookError(
      ErrorCode.invalidWebhook,
      'webhook set: expected an object { "webhooks": [...] }',
    );
  }
  const r = validateWebhookList(json.value['webhooks']);
  if (!r.ok) throw new WebhookError(r.code, `webhook set: ${r.error}`);
  return r.value;
}
