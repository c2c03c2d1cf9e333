/**
 * Agent updates on the wire (docs/protocol.md, "Updating the agent"): the shapes the hub checks
 * of an uploaded artifact's signature file, of a client's `update_request`, of the device's
 * `update_result`, and the `update_state` event clients receive. The device checks the
 * signature itself against its trusted keys; the hub only checks the file's shape and that it
 * describes the bytes uploaded (a mismatch is refused at upload, not on a device).
 */
import { deviceId } from './fields.js';
import { array, boolean, literal, number, object, optional, string, type Infer } from './schema.js';

/** Largest signature file (JSON): a few fields and a 64-byte signature fit many times over. */
export const MAX_SIGNATURE_BYTES = 4096;
/** A version as an artifact is named by: semver-like, no path characters. */
export const ARTIFACT_VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;
/** An architecture as `hello.arch` names it (`x64`, `arm64`, `armv7l`, …). */
export const ARTIFACT_ARCH_PATTERN = /^[a-z0-9_]{1,16}$/;
export const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/;

export const artifactVersion = () => string({ pattern: ARTIFACT_VERSION_PATTERN });
export const artifactArch = () => string({ pattern: ARTIFACT_ARCH_PATTERN });

/**
 * What the hub needs of a signature file (`iottly-agent sign` writes it): the artifact it
 * describes. Other fields (key id, format tag) pass through to the device untouched.
 */
export const signatureFileShape = object({
  version: artifactVersion(),
  arch: artifactArch(),
  size: number({ integer: true, min: 1 }),
  sha256: string({ pattern: SHA256_HEX_PATTERN }),
  signature: string({ minLength: 1, maxLength: 1024, pattern: /^[A-Za-z0-9+/_-]+={0,2}$/ }),
});
export type SignatureFileShape = Infer<typeof signatureFileShape>;

/** Which devices an update is for: a list, an architecture, or every device. */
export const updateRequestPayload = object({
  version: artifactVersion(),
  devices: optional(array(deviceId(), { maxItems: 10_000 })),
  arch: optional(artifactArch()),
  all: optional(boolean()),
  downgrade: optional(boolean()),
});
export type UpdateRequestPayload = Infer<typeof updateRequestPayload>;

export const UPDATE_STATES = [
  'pending',
  'downloading',
  'installing',
  'restarting',
  'done',
  'rolled_back',
  'failed',
] as const;
export type UpdateStateName = (typeof UPDATE_STATES)[number];
/** States after which nothing more happens for that update. */
export const FINAL_UPDATE_STATES: ReadonlySet<UpdateStateName> = new Set([
  'done',
  'rolled_back',
  'failed',
]);

/** The device's report after its restart: the new version runs, or the previous one again. */
export const updateResultPayload = object({
  version: string({ maxLength: 64 }),
  state: literal('done', 'rolled_back', 'failed'),
  cause: optional(string({ maxLength: 2000 })),
  previous_version: optional(string({ maxLength: 64 })),
});
export type UpdateResultPayload = Infer<typeof updateResultPayload>;

/** One device's update as clients see it (`update_state` events, `/v1/devices`, `/v1/updates`). */
export interface UpdateStateView {
  device_id: string;
  version: string;
  arch: string;
  state: UpdateStateName;
  /** Bytes of the artifact the device has (resumed bytes included). */
  bytes: number;
  size: number;
  /** Why it failed or was rolled back (the device's words, or the hub's). */
  cause: string | null;
  /** The error code when the device or the hub refused it. */
  code: string | null;
  updated_at: string;
}
