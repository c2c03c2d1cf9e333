import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { DEVICE_ID_PATTERN } from '../protocol/fields.js';
import { bearerToken } from './auth.js';
import type { DeviceSecret } from './device-tokens-file.js';

/**
 * The devices allowed on `/v1/device` and the SHA-256 digest of each one's token: no token is
 * kept. A set is immutable; a reload builds a new one and `diffCredentials` says what changed.
 *
 * Why SHA-256 and not a salted KDF: device tokens are random secrets (README asks for 128 bits
 * or more; the file refuses fewer than 16 characters), and guessing a 128-bit preimage is out of
 * reach whatever the hash costs, so a slow hash would buy nothing but a slower connect and a
 * reload of a 100,000-device fleet taking minutes. A weak, human-chosen token is what a KDF
 * protects, and such tokens are not accepted as device credentials.
 *
 * Finding the device of a token must not take time that depends on the stored digests: the
 * token's digest is looked up by a keyed index (HMAC-SHA256 under a key drawn when the set is
 * made, so the bucket it lands in says nothing an attacker can use), then compared with the
 * stored digest by `timingSafeEqual` on two 32-byte buffers. Digests live in one slab (32 bytes
 * a device) to keep 100,000 devices to a few MiB.
 */
const DIGEST_BYTES = 32;
/** 128 bits of the keyed index: two distinct digests share it with negligible probability. */
const INDEX_BYTES = 16;
const INDEX_KEY_BYTES = 32;

export type DeviceAuthResult =
  | { ok: true; deviceId: string }
  | { ok: false; reason: 'missing_token' | 'wrong_token' | 'device_mismatch' };

export const DEVICE_ID_HEADER = 'x-iottly-device-id';

export interface DeviceCredentialEntry {
  deviceId: string;
  secret: DeviceSecret;
  /** Where the entry came from, for messages (`--device-token`, `FILE:LINE`). */
  source: string;
}

export interface CredentialsChange {
  added: string[];
  removed: string[];
  /** Same device, another token. */
  changed: string[];
}

export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class DeviceCredentials {
  readonly #slot = new Map<string, number>();
  readonly #byIndex = new Map<string, string>();
  readonly #digests: Buffer;
  readonly #indexKey: Buffer;

  /**
   * Throws a TypeError naming the entry's source for a bad id, an id given twice or two devices
   * sharing a token (they could not be told apart). `indexKey` is for tests; a random one by
   * default.
   */
  constructor(entries: readonly DeviceCredentialEntry[], indexKey?: Buffer) {
    this.#indexKey = indexKey ?? randomBytes(INDEX_KEY_BYTES);
    this.#digests = Buffer.alloc(entries.length * DIGEST_BYTES);
    const sourceOf = new Map<string, string>();
    entries.forEach(({ deviceId, secret, source }, i) => {
      if (!DEVICE_ID_PATTERN.test(deviceId)) {
        throw new TypeError(
          `${source}: device id "${deviceId}" does not match ${DEVICE_ID_PATTERN}`,
        );
      }
      const earlier = sourceOf.get(deviceId);
      if (earlier !== undefined)
        throw new TypeError(`${source}: device "${deviceId}" is given again (first in ${earlier})`);
      const digest = digestOf(secret, source, deviceId);
      const index = this.#index(digest);
      const holder = this.#byIndex.get(index);
      if (holder !== undefined) {
        throw new TypeError(
          `${source}: device "${deviceId}" shares its token with "${holder}" (${sourceOf.get(holder)})`,
        );
      }
      digest.copy(this.#digests, i * DIGEST_BYTES);
      this.#slot.set(deviceId, i);
      this.#byIndex.set(index, deviceId);
      sourceOf.set(deviceId, source);
    });
  }

  /** `--device-token ID=TOKEN` pairs (and the demo's one device). */
  static fromTokens(
    tokens: ReadonlyMap<string, string>,
    source = 'deviceTokens',
  ): DeviceCredentials {
    return new DeviceCredentials(
      [...tokens].map(([deviceId, token]) => ({
        deviceId,
        secret: { kind: 'token', token },
        source,
      })),
    );
  }

  get size(): number {
    return this.#slot.size;
  }

  deviceIds(): string[] {
    return [...this.#slot.keys()];
  }

  has(deviceId: string): boolean {
    return this.#slot.has(deviceId);
  }

  /** Which device the upgrade request's credentials belong to, or why they are refused. */
  authenticate(headers: IncomingHttpHeaders): DeviceAuthResult {
    const token = bearerToken(headers.authorization);
    if (token === null) return { ok: false, reason: 'missing_token' };
    const deviceId = this.deviceOf(token);
    if (deviceId === null) return { ok: false, reason: 'wrong_token' };
    const claimed = headerValue(headers[DEVICE_ID_HEADER]);
    if (claimed !== undefined && claimed !== deviceId)
      return { ok: false, reason: 'device_mismatch' };
    return { ok: true, deviceId };
  }

  /** The device whose token this is, or null. */
  deviceOf(token: string): string | null {
    const candidate = tokenDigest(token);
    const deviceId = this.#byIndex.get(this.#index(candidate));
    const stored = deviceId === undefined ? null : this.#digestOf(deviceId);
    // A miss still pays one comparison, against itself: the same work as a hit.
    const match = timingSafeEqual(candidate, stored ?? candidate);
    return match && stored !== null && deviceId !== undefined ? deviceId : null;
  }

  /** True when `other` holds the same token for `deviceId` (both must hold the device). */
  sameSecret(deviceId: string, other: DeviceCredentials): boolean {
    const mine = this.#digestOf(deviceId);
    const theirs = other.#digestOf(deviceId);
    return mine !== null && theirs !== null && timingSafeEqual(mine, theirs);
  }

  #digestOf(deviceId: string): Buffer | null {
    const slot = this.#slot.get(deviceId);
    if (slot === undefined) return null;
    return this.#digests.subarray(slot * DIGEST_BYTES, (slot + 1) * DIGEST_BYTES);
  }

  #index(digest: Buffer): string {
    return createHmac('sha256', this.#indexKey)
      .update(digest)
      .digest()
      .subarray(0, INDEX_BYTES)
      .toString('base64');
  }
}

/** What a reload changes: devices added, removed, and those whose token changed. */
export function diffCredentials(
  before: DeviceCredentials,
  after: DeviceCredentials,
): CredentialsChange {
  const change: CredentialsChange = { added: [], removed: [], changed: [] };
  for (const id of after.deviceIds()) {
    if (!before.has(id)) change.added.push(id);
    else if (!before.sameSecret(id, after)) change.changed.push(id);
  }
  for (const id of before.deviceIds()) if (!after.has(id)) change.removed.push(id);
  return change;
}

function digestOf(secret: DeviceSecret, source: string, deviceId: string): Buffer {
  if (secret.kind === 'sha256') {
    if (secret.digest.length !== DIGEST_BYTES)
      throw new TypeError(`${source}: the digest of "${deviceId}" is not 32 bytes`);
    return secret.digest;
  }
  if (typeof secret.token !== 'string' || secret.token.length === 0)
    throw new TypeError(`${source}: the token of "${deviceId}" is empty`);
  return tokenDigest(secret.token);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
