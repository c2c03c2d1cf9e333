import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { DEVICE_ID_PATTERN } from '../protocol/fields.js';

/**
 * Credentials the hub checks: device tokens on `/v1/device`, API keys everywhere else.
 *
 * Secrets are compared as SHA-256 digests with `timingSafeEqual`: equal-length buffers whatever
 * the input, so the time taken says nothing about a secret's content or length. Every stored
 * secret is compared on every attempt, so it says nothing about which one matched either.
 */
function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer +(\S+)$/i.exec(header.trim());
  return match?.[1] ?? null;
}

/** An API key from `Authorization: Bearer KEY` or else from `?api_key=KEY`. */
export function presentedApiKey(headers: IncomingHttpHeaders, url: URL): string | null {
  return bearerToken(headers.authorization) ?? (url.searchParams.get('api_key') || null);
}

export class ApiKeys {
  readonly #digests: Buffer[];

  constructor(keys: readonly string[]) {
    for (const key of keys) {
      if (typeof key !== 'string' || key.length === 0)
        throw new TypeError('apiKeys: expected non-empty strings');
    }
    this.#digests = keys.map(digest);
  }

  verify(key: string | null): boolean {
    if (key === null) return false;
    const candidate = digest(key);
    let found = false;
    for (const d of this.#digests) found = timingSafeEqual(candidate, d) || found;
    return found;
  }
}

export type DeviceAuthResult =
  | { ok: true; deviceId: string }
  | { ok: false; reason: 'missing_token' | 'wrong_token' | 'device_mismatch' };

export const DEVICE_ID_HEADER = 'x-iottly-device-id';

export class DeviceCredentials {
  readonly #digests = new Map<string, Buffer>();

  constructor(tokens: ReadonlyMap<string, string>) {
    const seen = new Set<string>();
    for (const [deviceId, token] of tokens) {
      if (!DEVICE_ID_PATTERN.test(deviceId)) {
        throw new TypeError(
          `deviceTokens: device id "${deviceId}" does not match ${DEVICE_ID_PATTERN}`,
        );
      }
      if (typeof token !== 'string' || token.length === 0) {
        throw new TypeError(`deviceTokens: the token of "${deviceId}" is empty`);
      }
      const d = digest(token);
      const hex = d.toString('hex');
      // Two devices with one token could not be told apart: refuse the configuration.
      if (seen.has(hex))
        throw new TypeError(`deviceTokens: "${deviceId}" shares its token with another device`);
      seen.add(hex);
      this.#digests.set(deviceId, d);
    }
  }

  deviceIds(): string[] {
    return [...this.#digests.keys()];
  }

  /** Which device the upgrade request's credentials belong to, or why they are refused. */
  authenticate(headers: IncomingHttpHeaders): DeviceAuthResult {
    const token = bearerToken(headers.authorization);
    if (token === null) return { ok: false, reason: 'missing_token' };
    const candidate = digest(token);
    let deviceId: string | null = null;
    for (const [id, d] of this.#digests) {
      if (timingSafeEqual(candidate, d) && deviceId === null) deviceId = id;
    }
    if (deviceId === null) return { ok: false, reason: 'wrong_token' };
    const claimed = headerValue(headers[DEVICE_ID_HEADER]);
    if (claimed !== undefined && claimed !== deviceId)
      return { ok: false, reason: 'device_mismatch' };
    return { ok: true, deviceId };
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
