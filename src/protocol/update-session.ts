/**
 * The wire of agent updates besides the signature file: the `session_open` payload of kind
 * `update` (hub → agent) and `update_result` (agent → hub, acknowledged, channel status).
 * docs/protocol.md "Updating the agent".
 */
import { boolean, literal, object, optional, string, type Infer } from './schema.js';
import {
  agentVersion,
  artifactArch,
  artifactSignature,
  artifactSize,
  sha256Hex,
} from './update-artifact.js';
import { isoTimestamp } from './fields.js';

export const UPDATE_SESSION_KIND = 'update';
export const UPDATE_CAPABILITY = 'update';

export const updateOpenPayload = object({
  kind: literal(UPDATE_SESSION_KIND),
  version: agentVersion(),
  arch: artifactArch(),
  size: artifactSize(),
  sha256: sha256Hex(),
  signature: artifactSignature,
  downgrade: optional(boolean()),
});
export type UpdateOpenPayload = Infer<typeof updateOpenPayload>;

export const UPDATE_RESULT = 'update_result';
export const ROLLBACK_CAUSES = ['not_online', 'crashed'] as const;

export const updateResultPayload = object({
  version: agentVersion(),
  from: agentVersion(),
  ok: boolean(),
  cause: optional(literal(...ROLLBACK_CAUSES)),
  message: optional(string({ maxLength: 1024 })),
  ts: optional(isoTimestamp()),
});
export type UpdateResultPayload = Infer<typeof updateResultPayload>;
