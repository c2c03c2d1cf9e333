import { MAX_WEBHOOKS, validateWebhookSpec, type WebhookSpec } from './webhook.js';

/**
 * `--webhooks FILE`: a JSON array of webhook definitions, the same objects POST /v1/webhooks
 * takes. Throws an Error whose message names the file, the entry and the field.
 */
export function parseWebhooksFile(text: string, path: string): WebhookSpec[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
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
