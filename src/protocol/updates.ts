/**
 * The hub's side of agent updates on the wire (docs/protocol.md, "Agent updates: the hub"): the
 * `update_state` event clients receive (the console too: nothing here needs Node). A client's
 * `update_request` is in update-request.ts, the signature file and the device's messages in
 * update-artifact.ts and update-session.ts.
 */
import { deviceId } from './fields.js';
import { literal, nullable, number, object, string } from './schema.js';

/** Largest signature file (JSON): a few fields and a 64-byte signature fit many times over. */
export const MAX_SIGNATURE_BYTES = 4096;

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

/**
 * `update_state` as a client checks it: the fields it shows (the hub sends them all, see
 * UpdateStateView).
 */
export const updateStatePayload = object({
  device_id: deviceId(),
  version: string({ maxLength: 64 }),
  state: literal(...UPDATE_STATES),
  bytes: number({ integer: true, min: 0 }),
  size: number({ integer: true, min: 0 }),
  cause: nullable(string({ maxLength: 4096 })),
});

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
