/**
 * The hub's side of agent updates on the wire (docs/protocol.md, "Agent updates: the hub"): a
 * client's `update_request` and the `update_state` event clients receive. The signature file
 * and the device's messages are in update-artifact.ts and update-session.ts.
 */
import { deviceId } from './fields.js';
import { array, boolean, object, optional, type Infer } from './schema.js';
import { agentVersion, artifactArch } from './update-artifact.js';

/** Largest signature file (JSON): a few fields and a 64-byte signature fit many times over. */
export const MAX_SIGNATURE_BYTES = 4096;

/** Which devices an update is for: a list, an architecture, or every device. */
export const updateRequestPayload = object({
  version: agentVersion(),
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
