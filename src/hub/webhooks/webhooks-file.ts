import { decodeJson } from '../../protocol/bounded-json.js';
import { MAX_WEBHOOKS, validateWebhookSpec, type WebhookSpec } from './webhook.js';

/** Room for MAX_WEBHOOKS definitions with generous headers; a larger file is not a webhook list. */
const MAX_WEBHOOKS_FILE_BYTES = 1 << 20;

/**
 * `--webhooks FILE`: a JSON array of webhook definitions, the same objects POST /v1/webhooks
 * takes. Throws an Error whose message names the file, the entry and the field.
 */
export function parseWebhooksFile(text: string, path: string): WebhookSpec[] {
  const json = decodeJson(text, { maxBytes: MAX_WEBHOOKS_FILE_BYTES });
  if (!json.ok) throw new Error(`${path}: ${json.message}`);
  const value = json.value;
  if (!Array.isArray(value)) throw new Error(`${path}: expected a JSON array of webhooks`);
  if (value.length > MAX_WEBHOOKS) {
    throw new Error(`${path}: at most ${MAX_WEBHOOKS} webhooks, got ${value.length}`);
  }
  return value.map((entry, i) => {
    const r = validateWebhookSpec(entry, `webhooks[${i}]`);
    if (!r.ok) throw new Error(`${path}: ${r.error}`);
    return r.value;
  });
}
