import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Credentials the hub checks: API keys (device tokens are in device-credentials.ts).
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
