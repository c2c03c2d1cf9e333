import { createHmac, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../time/clock.js';

/**
 * Short-lived session tokens for browsers. The platform docs: a browser never puts the API key
 * in a URL; it exchanges the key for a short-lived session token (`POST /v1/session`) and
 * passes that instead.
 *
 *     ist_<expiry ms, base 36>.<nonce, 128 bits>.<HMAC-SHA256 under the API key, base64url>
 *
 * Tokens are stateless: the hub keeps no table of them, so nothing grows with the number of
 * sign-ins, a hub restarted with the same API keys still accepts the tokens it issued (an open
 * console reconnects without asking again), and removing a key revokes every token made with
 * it. The MAC binds the expiry, so a token cannot be extended; whoever could mint one already
 * holds the API key. A token never lives longer than the TTL in force, even one issued under a
 * longer TTL before a restart.
 */
export const DEFAULT_SESSION_TTL_MS = 15 * 60_000;
export const SESSION_TOKEN_PREFIX = 'ist_';

const MAC_CONTEXT = 'iottly-session-v1';
const NONCE_BYTES = 16;
const TOKEN_PATTERN = /^ist_([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/** When a session ends, on the hub's clock and as time left (a browser's clock may differ). */
export interface SessionExpiry {
  expiresAt: Date;
  expiresInMs: number;
}

export interface SessionToken extends SessionExpiry {
  token: string;
}

export type SessionCheck =
  ({ ok: true } & SessionExpiry) | { ok: false; reason: 'malformed' | 'wrong' | 'expired' };

export interface SessionTokensOptions {
  /** The API keys whose holders may open sessions (the same the hub accepts). */
  apiKeys: readonly string[];
  ttlMs?: number;
  clock: Clock;
  /** Where nonces come from (default: crypto). */
  randomBytes?: (size: number) => Buffer;
}

export class SessionTokens {
  readonly ttlMs: number;
  readonly #keys: readonly string[];
  readonly #clock: Clock;
  readonly #randomBytes: (size: number) => Buffer;

  constructor(options: SessionTokensOptions) {
    const ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1_000) {
      throw new RangeError(`sessionTtlMs: expected an integer of at least 1000, got ${ttlMs}`);
    }
    this.ttlMs = ttlMs;
    this.#keys = options.apiKeys;
    this.#clock = options.clock;
    this.#randomBytes = options.randomBytes ?? cryptoRandomBytes;
  }

  /** A fresh token for the holder of `apiKey`; the caller has verified the key. */
  issue(apiKey: string): SessionToken {
    const expiresMs = this.#clock.date().getTime() + this.ttlMs;
    const expiry = expiresMs.toString(36);
    const nonce = this.#randomBytes(NONCE_BYTES).toString('base64url');
    const token = `${SESSION_TOKEN_PREFIX}${expiry}.${nonce}.${mac(apiKey, expiry, nonce).toString('base64url')}`;
    return { token, expiresAt: new Date(expiresMs), expiresInMs: this.ttlMs };
  }

  /**
   * Whether `token` is one of ours and still valid. `expired` is said only of a genuine token
   * (its MAC checked out), so the answer tells a forger nothing.
   */
  check(token: string): SessionCheck {
    const match = TOKEN_PATTERN.exec(token);
    if (!match) return { ok: false, reason: 'malformed' };
    const [, expiry = '', nonce = '', presented = ''] = match;
    const presentedMac = Buffer.from(presented, 'base64url');
    let genuine = false;
    // Every key is tried on every check: the time taken does not say which key matched.
    for (const key of this.#keys) {
      genuine = timingSafeEqual(mac(key, expiry, nonce), presentedMac) || genuine;
    }
    if (!genuine) return { ok: false, reason: 'wrong' };
    const expiresMs = parseInt(expiry, 36);
    const nowMs = this.#clock.date().getTime();
    if (expiresMs <= nowMs || expiresMs > nowMs + this.ttlMs)
      return { ok: false, reason: 'expired' };
    return { ok: true, expiresAt: new Date(expiresMs), expiresInMs: expiresMs - nowMs };
  }
}

function mac(key: string, expiry: string, nonce: string): Buffer {
  return createHmac('sha256', key).update(`${MAC_CONTEXT}.${expiry}.${nonce}`).digest();
}
