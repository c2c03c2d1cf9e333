import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
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
 * Finding the device of a token must not take time that depends on the stored digests: a token
 * is found by an index, the first 16 bytes of its digest masked (XOR) with a key drawn when the
 * set is made, so what a Map lookup's timing could reveal (its hash bucket, a string compare)
 * is about masked values an attacker cannot relate to any digest; the match is then confirmed
 * with `timingSafeEqual` on two 32-byte digests. A mask, not an HMAC: a 100,000-device file
 * loads in a third of the time, and the mask already hides everything a lookup can leak. Digests
 * live in one slab (32 bytes a device), index keys are 16-byte one-byte strings, and device ids
 * are copied out of the file's text, so no token stays reachable once the file is parsed.
 */
const DIGEST_BYTES = 32;
/** 128 bits of the index: two distinct digests share it with negligible probability. */
const INDEX_BYTES = 16;
/** The slab doubles from here as entries come (a generator does not say how many). */
const INITIAL_SLOTS = 1024;
const PLACEHOLDER: DeviceCredentialEntry = {
  deviceId: '',
  secret: { kind: 'token', token: '' },
};

export type DeviceAuthResult =
  | { ok: true; deviceId: string }
  | { ok: false; reason: 'missing_token' | 'wrong_token' | 'device_mismatch' };

export const DEVICE_ID_HEADER = 'x-iottly-device-id';

export interface DeviceCredentialEntry {
  deviceId: string;
  secret: DeviceSecret;
  /** Where the entry came from, for messages (`--device-token`). */
  source?: string;
  /** Its line in the tokens file: its source is then `FILE:LINE` (see the constructor). */
  line?: number;
}

export interface CredentialsChange {
  added: string[];
  removed: string[];
  /** Same device, another token. */
  changed: string[];
}

export function tokenDigest(token: string): Buffer {
  return hash('sha256', token, 'buffer');
}

export class DeviceCredentials {
  readonly #slot = new Map<string, number>();
  readonly #byIndex = new Map<string, string>();
  readonly #digests: Buffer;
  readonly #mask = randomBytes(INDEX_BYTES);
  readonly #scratch = Buffer.alloc(INDEX_BYTES);

  /**
   * Throws a TypeError naming the entry's source for a bad id, an id given twice or two devices
   * sharing a token (they could not be told apart). `entries` may be a generator: each entry is
   * let go once its digest is in the slab. `where` names an entry in those messages; it is asked
   * only then, so a 100,000-line file builds no 100,000 `FILE:LINE` strings.
   */
  constructor(
    entries: Iterable<DeviceCredentialEntry>,
    where: (entry: DeviceCredentialEntry) => string = (entry) => entry.source ?? 'deviceTokens',
  ) {
    let slab = Buffer.alloc(INITIAL_SLOTS * DIGEST_BYTES);
    // What names each entry in a later message: its line, or its source.
    const origins: Array<number | string | undefined> = [];
    const originAt = (slot: number | undefined): string => {
      const origin = slot === undefined ? undefined : origins[slot];
      return where(
        typeof origin === 'number'
          ? { ...PLACEHOLDER, line: origin }
          : { ...PLACEHOLDER, source: origin ?? '?' },
      );
    };
    let i = 0;
    for (const entry of entries) {
      const { deviceId, secret } = entry;
      if (!DEVICE_ID_PATTERN.test(deviceId)) {
        throw new TypeError(
          `${where(entry)}: device id "${deviceId}" does not match ${DEVICE_ID_PATTERN}`,
        );
      }
      const earlier = this.#slot.get(deviceId);
      if (earlier !== undefined) {
        throw new TypeError(
          `${where(entry)}: device "${deviceId}" is given again (first in ${originAt(earlier)})`,
        );
      }
      const digest = digestOf(secret, () => where(entry), deviceId);
      const index = this.#index(digest);
      const holder = this.#byIndex.get(index);
      if (holder !== undefined) {
        throw new TypeError(
          `${where(entry)}: device "${deviceId}" shares its token with "${holder}" (${originAt(this.#slot.get(holder))})`,
        );
      }
      if ((i + 1) * DIGEST_BYTES > slab.length) {
        const larger = Buffer.alloc(slab.length * 2);
        slab.copy(larger);
        slab = larger;
      }
      digest.copy(slab, i * DIGEST_BYTES);
      const id = ownCopy(deviceId);
      this.#slot.set(id, i);
      this.#byIndex.set(index, id);
      origins.push(entry.line ?? entry.source);
      i += 1;
    }
    this.#digests = Buffer.alloc(i * DIGEST_BYTES);
    slab.copy(this.#digests, 0, 0, i * DIGEST_BYTES);
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
    const masked = this.#scratch;
    for (let i = 0; i < INDEX_BYTES; i++) masked[i] = (digest[i] ?? 0) ^ (this.#mask[i] ?? 0);
    return masked.toString('latin1');
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

function digestOf(secret: DeviceSecret, source: () => string, deviceId: string): Buffer {
  if (secret.kind === 'sha256') {
    if (secret.digest.length !== DIGEST_BYTES)
      throw new TypeError(`${source()}: the digest of "${deviceId}" is not 32 bytes`);
    return secret.digest;
  }
  if (typeof secret.token !== 'string' || secret.token.length === 0)
    throw new TypeError(`${source()}: the token of "${deviceId}" is empty`);
  return tokenDigest(secret.token);
}

/**
 * A string of its own: a slice of the file's text would keep the whole text, tokens included,
 * alive as long as the id.
 */
function ownCopy(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
