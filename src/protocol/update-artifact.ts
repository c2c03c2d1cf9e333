/**
 * The shape of an agent update artifact's detached signature (`BINARY.sig`, written by
 * `iottly-agent sign`) and the canonical bytes it signs. Shared by the agent (which checks it
 * before it takes a byte of an update) and the hub (which checks an upload). docs/protocol.md
 * "Updating the agent".
 */
import { literal, number, object, string, type Infer } from './schema.js';

export const SIGNATURE_FORMAT = 'iottly-agent-signature/1';

/** Largest artifact the format can describe (1 TiB); devices bound it by `update.maxBytes`. */
export const MAX_ARTIFACT_BYTES = 2 ** 40;

/**
 * `MAJOR.MINOR.PATCH` with an optional `-prerelease` (dot-separated identifiers) and an optional
 * `+build`: the versions this project gives its releases (package.json). Bounded so that a
 * version can go into file names, logs and the guard's state file as it is.
 */
export const VERSION_PATTERN =
  /^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

/** Node's `process.arch` names of the architectures the binaries are built for. */
export const ARTIFACT_ARCHES = ['x64', 'arm64', 'arm'] as const;
export type ArtifactArch = (typeof ARTIFACT_ARCHES)[number];

export const agentVersion = () => string({ maxLength: 64, pattern: VERSION_PATTERN });
export const artifactArch = () => literal(...ARTIFACT_ARCHES);
export const sha256Hex = () => string({ pattern: /^[0-9a-f]{64}$/ });
export const keyId = () => string({ pattern: /^[0-9a-f]{16}$/ });
export const artifactSize = () => number({ integer: true, min: 1, max: MAX_ARTIFACT_BYTES });

/** What `BINARY.sig` holds. `signature`: base64 of the 64-byte ed25519 signature. */
export const artifactSignature = object({
  format: literal(SIGNATURE_FORMAT),
  version: agentVersion(),
  arch: artifactArch(),
  size: artifactSize(),
  sha256: sha256Hex(),
  key_id: keyId(),
  signature: string({ pattern: /^[A-Za-z0-9+/]{86}==$/ }),
});
export type ArtifactSignature = Infer<typeof artifactSignature>;

/** The signed fields: everything in the file but the signature itself. */
export type SignedFields = Omit<ArtifactSignature, 'signature' | 'format'>;

/**
 * The bytes the signature covers: one `name=value` line per field in a fixed order after the
 * format line. Text rather than JSON so that no serializer's key order or number format can
 * change what was signed; every value is already restricted to characters without `=` or `\n`.
 */
export function canonicalSignedBytes(fields: SignedFields): Uint8Array {
  // TextEncoder, not Buffer: the console reaches this module through the shared validators.
  return new TextEncoder().encode(
    [
      SIGNATURE_FORMAT,
      `version=${fields.version}`,
      `arch=${fields.arch}`,
      `size=${fields.size}`,
      `sha256=${fields.sha256}`,
      `key_id=${fields.key_id}`,
      '',
    ].join('\n'),
  );
}

/**
 * Orders two versions by semver precedence (build metadata ignored): negative when `a` is older,
 * 0 when equal, positive when newer. Both must match VERSION_PATTERN.
 */
export function compareVersions(a: string, b: string): number {
  const [coreA, preA] = splitVersion(a);
  const [coreB, preB] = splitVersion(b);
  for (let i = 0; i < 3; i += 1) {
    const diff = (coreA[i] ?? 0) - (coreB[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  // A pre-release is older than its release; two pre-releases compare field by field.
  if (preA.length === 0 || preB.length === 0)
    return preB.length - preA.length === 0 ? 0 : preA.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.max(preA.length, preB.length); i += 1) {
    const x = preA[i];
    const y = preB[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const diff = comparePrereleaseField(x, y);
    if (diff !== 0) return diff;
  }
  return 0;
}

function splitVersion(version: string): [number[], string[]] {
  const withoutBuild = version.split('+', 1)[0] ?? '';
  const dash = withoutBuild.indexOf('-');
  const core = dash < 0 ? withoutBuild : withoutBuild.slice(0, dash);
  const pre = dash < 0 ? [] : withoutBuild.slice(dash + 1).split('.');
  return [core.split('.').map(Number), pre];
}

function comparePrereleaseField(x: string, y: string): number {
  const numeric = /^[0-9]+$/;
  if (numeric.test(x) && numeric.test(y)) return Math.sign(Number(x) - Number(y));
  if (numeric.test(x)) return -1; // numeric identifiers sort before alphanumeric ones
  if (numeric.test(y)) return 1;
  return x < y ? -1 : x > y ? 1 : 0;
}
