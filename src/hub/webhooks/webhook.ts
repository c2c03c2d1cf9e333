import { isIP } from 'node:net';
import {
  boolean,
  isPlainObject,
  literal,
  object,
  optional,
  string,
  type Result,
  type Validator,
} from '../../protocol/schema.js';
import { channelName } from '../../protocol/apps.js';
import { ErrorCode } from '../../protocol/error-codes.js';

/**
 * A webhook as the platform docs define it: where to POST each device message, which ones
 * (Type `iottly` for the agent's own messages, `user` for apps'; optionally one channel), the
 * whole envelope or the payload only, and up to 5 custom headers. A hub keeps up to 5.
 *
 *     { "description", "url", "type": "iottly" | "user", "channel"?, "payload_only"?, "headers"? }
 *
 * URLs are https://, or http:// to a loopback address for development.
 */
export const MAX_WEBHOOKS = 5;
export const MAX_WEBHOOK_HEADERS = 5;

export type MessageKind = 'iottly' | 'user';

export interface WebhookSpec {
  description: string;
  url: string;
  type: MessageKind;
  channel?: string;
  payload_only?: boolean;
  headers?: Record<string, string>;
}

export interface Webhook extends WebhookSpec {
  id: string;
}

/** Headers the hub sets itself; a webhook may not replace them. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const HEADER_VALUE = /^[^\u0000-\u0008\u000a-\u001f\u007f]{0,4096}$/;

const webhookUrl: Validator<string> = (value, path) => {
  if (typeof value !== 'string' || value.length > 2048) {
    return { ok: false, error: `${path}: expected a URL string of at most 2048 chars` };
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, error: `${path}: expected an absolute https:// URL` };
  }
  if (url.protocol === 'https:') return { ok: true, value };
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return { ok: true, value };
  return {
    ok: false,
    error: `${path}: expected https:// (http:// only to a loopback address, for development)`,
  };
};

export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

const webhookHeaders: Validator<Record<string, string>> = (value, path) => {
  if (!isPlainObject(value)) return { ok: false, error: `${path}: expected object` };
  const names = Object.keys(value);
  if (names.length > MAX_WEBHOOK_HEADERS) {
    return {
      ok: false,
      error: `${path}: at most ${MAX_WEBHOOK_HEADERS} custom headers, got ${names.length}`,
    };
  }
  const seen = new Set<string>();
  for (const name of names) {
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(name))
      return { ok: false, error: `${path}: "${name.slice(0, 40)}" is not a header name` };
    if (RESERVED_HEADERS.has(lower))
      return { ok: false, error: `${path}.${name}: set by the hub, not by a webhook` };
    if (seen.has(lower)) return { ok: false, error: `${path}.${name}: given twice` };
    seen.add(lower);
    const v = value[name];
    if (typeof v !== 'string' || !HEADER_VALUE.test(v)) {
      return {
        ok: false,
        error: `${path}.${name}: expected a one-line string of at most 4096 chars`,
      };
    }
  }
  return { ok: true, value: value as Record<string, string> };
};

const specShape = object({
  description: string({ minLength: 1, maxLength: 200 }),
  url: webhookUrl,
  type: literal('iottly', 'user'),
  channel: optional(channelName()),
  payload_only: optional(boolean()),
  headers: optional(webhookHeaders),
});

/** What REST shows instead of a header value. */
export const MASKED_HEADER_VALUE = '***';

/**
 * A webhook as REST shows it: header names kept, values masked. Custom headers are where a
 * receiver's credentials go, and a listing (or a 201 answer that ends up in a log) must not
 * hand them out; posts still send the real values.
 */
export function withMaskedHeaders(webhook: Webhook): Webhook {
  if (webhook.headers === undefined) return webhook;
  const headers = Object.fromEntries(
    Object.keys(webhook.headers).map((name) => [name, MASKED_HEADER_VALUE]),
  );
  return { ...webhook, headers };
}

export function validateWebhookSpec(value: unknown, path = 'webhook'): Result<WebhookSpec> {
  return specShape(value, path);
}

/** What the hub's ids look like (ids.ts: `wh_` and base64url), with room for other id sources. */
const WEBHOOK_ID = /^[A-Za-z0-9_-]{1,64}$/;
const webhookId = string({ minLength: 1, maxLength: 64, pattern: WEBHOOK_ID });

/**
 * A stored webhook as another hub hands it over (the fleet's webhook set): a valid definition
 * and the id that hub gave it, so a DELETE on any hub names the same webhook.
 */
export function validateWebhook(value: unknown, path = 'webhook'): Result<Webhook> {
  const spec = specShape(value, path);
  if (!spec.ok) return spec;
  const id = webhookId(isPlainObject(value) ? value['id'] : undefined, `${path}.id`);
  if (!id.ok) return id;
  return { ok: true, value: { id: id.value, ...spec.value } };
}

/** A webhook set refused, with the code REST would answer (invalid_webhook, webhook_limit). */
export type ListResult =
  | { ok: true; value: Webhook[] }
  | {
      ok: false;
      code: typeof ErrorCode.invalidWebhook | typeof ErrorCode.webhookLimit;
      error: string;
    };

/** A whole webhook set: at most MAX_WEBHOOKS valid webhooks with distinct ids. */
export function validateWebhookList(value: unknown, path = 'webhooks'): ListResult {
  const invalid = (error: string): ListResult => ({
    ok: false,
    code: ErrorCode.invalidWebhook,
    error,
  });
  if (!Array.isArray(value)) return invalid(`${path}: expected an array of webhooks`);
  if (value.length > MAX_WEBHOOKS) {
    return {
      ok: false,
      code: ErrorCode.webhookLimit,
      error: `${path}: at most ${MAX_WEBHOOKS} webhooks, got ${value.length}`,
    };
  }
  const list: Webhook[] = [];
  const ids = new Set<string>();
  for (const [i, entry] of value.entries()) {
    const r = validateWebhook(entry, `${path}[${i}]`);
    if (!r.ok) return invalid(r.error);
    if (ids.has(r.value.id)) return invalid(`${path}[${i}].id: "${r.value.id}" given twice`);
    ids.add(r.value.id);
    list.push(r.value);
  }
  return { ok: true, value: list };
}
