import { pbkdf2Sync } from 'node:crypto';

/**
 * mosquitto's password file, as `mosquitto_passwd` 2.0 writes it: one `user:hash` line per user,
 * the hash `$7$ITERATIONS$SALT$HASH` with PBKDF2-HMAC-SHA512 over the UTF-8 password, a 12-byte
 * random salt and a 64-byte result, both in standard base64 (`$7$` is mosquitto's
 * `pw_sha512_pbkdf2`; `$6$` is its older single SHA-512).
 *
 * 101 iterations is mosquitto_passwd's own default: the broker hashes on every CONNECT, so a fleet
 * reconnecting at once costs (devices × iterations) HMACs; device tokens are long random secrets,
 * for which more iterations add little.
 */
export const MOSQUITTO_PBKDF2_ITERATIONS = 101;
export const MOSQUITTO_SALT_BYTES = 12;
const HASH_BYTES = 64;

export interface BrokerCredential {
  username: string;
  password: string;
}

export function mosquittoPasswordHash(password: string, salt: Buffer): string {
  if (salt.length !== MOSQUITTO_SALT_BYTES) {
    throw new Error(`a mosquitto salt is ${MOSQUITTO_SALT_BYTES} bytes, got ${salt.length}`);
  }
  const hash = pbkdf2Sync(password, salt, MOSQUITTO_PBKDF2_ITERATIONS, HASH_BYTES, 'sha512');
  return `$7$${MOSQUITTO_PBKDF2_ITERATIONS}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** The whole file; `salt()` gives a fresh random salt per user (crypto.randomBytes in use). */
export function mosquittoPasswordFile(
  credentials: readonly BrokerCredential[],
  salt: () => Buffer,
): string {
  return credentials
    .map(({ username, password }) => `${username}:${mosquittoPasswordHash(password, salt())}\n`)
    .join('');
}
