/**
 * ed25519 keys and signatures of update artifacts, with node:crypto only. A public key is
 * written `ed25519:<base64 of its raw 32 bytes>` (config `update.publicKeys`, `keygen`'s output);
 * its id is the first 8 bytes of the sha256 of those 32 bytes, in hex. Shared by the agent and
 * the hub (protocol/ is the rooms' common base); nothing here reads a file.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import {
  canonicalSignedBytes,
  SIGNATURE_FORMAT,
  type ArtifactSignature,
  type SignedFields,
} from './update-artifact.js';

export const PUBLIC_KEY_PREFIX = 'ed25519:';
const PUBLIC_KEY_PATTERN = /^ed25519:[A-Za-z0-9+/]{43}=$/;
/** DER prefix of an ed25519 SubjectPublicKeyInfo; the raw key follows it (RFC 8410). */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface TrustedKey {
  readonly id: string;
  readonly key: KeyObject;
  readonly text: string;
}

export function isPublicKeyText(text: string): boolean {
  return PUBLIC_KEY_PATTERN.test(text);
}

/** Parses `ed25519:<base64>`; throws on anything else (config validation calls isPublicKeyText first). */
export function parsePublicKey(text: string): TrustedKey {
  if (!isPublicKeyText(text))
    throw new Error(`expected ed25519:<base64 of 32 bytes>, got "${text.slice(0, 20)}…"`);
  const raw = Buffer.from(text.slice(PUBLIC_KEY_PREFIX.length), 'base64');
  const key = createPublicKey({
    key: Buffer.concat([SPKI_PREFIX, raw]),
    format: 'der',
    type: 'spki',
  });
  return { id: keyIdOf(raw), key, text };
}

export function keyIdOf(rawPublicKey: Buffer): string {
  return createHash('sha256').update(rawPublicKey).digest('hex').slice(0, 16);
}

/** The `ed25519:<base64>` text of a public key object. */
export function publicKeyText(key: KeyObject): string {
  const der = key.export({ format: 'der', type: 'spki' });
  return PUBLIC_KEY_PREFIX + der.subarray(SPKI_PREFIX.length).toString('base64');
}

/** Signs the fields with a PKCS#8 PEM private key (what `keygen` writes). */
export function signArtifact(
  fields: Omit<SignedFields, 'key_id'>,
  privateKeyPem: string,
): ArtifactSignature {
  const privateKey = createPrivateKey(privateKeyPem);
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error(
      `the key is ${privateKey.asymmetricKeyType ?? 'not an asymmetric key'}, not ed25519`,
    );
  const publicKey = parsePublicKey(publicKeyText(createPublicKey(privateKey)));
  const signed: SignedFields = { ...fields, key_id: publicKey.id };
  const signature = sign(null, canonicalSignedBytes(signed), privateKey).toString('base64');
  return {
    format: SIGNATURE_FORMAT,
    version: signed.version,
    arch: signed.arch,
    size: signed.size,
    sha256: signed.sha256,
    key_id: signed.key_id,
    signature,
  };
}

export type SignatureCheck =
  | { ok: true; key: TrustedKey }
  | { ok: false; reason: 'unknown_key' | 'bad_signature'; message: string };

/**
 * Whether `signature` (already validated by `artifactSignature`) was made by one of the trusted
 * keys over its own fields. Pure: the caller compares the fields with what it got.
 */
export function verifyArtifactSignature(
  signature: ArtifactSignature,
  trusted: readonly TrustedKey[],
): SignatureCheck {
  const key = trusted.find((candidate) => candidate.id === signature.key_id);
  if (key === undefined)
    return {
      ok: false,
      reason: 'unknown_key',
      message: `signed by key ${signature.key_id}, which is not in update.publicKeys`,
    };
  const good = verify(
    null,
    canonicalSignedBytes(signature),
    key.key,
    Buffer.from(signature.signature, 'base64'),
  );
  return good
    ? { ok: true, key }
    : {
        ok: false,
        reason: 'bad_signature',
        message: `the signature by key ${key.id} does not verify`,
      };
}
