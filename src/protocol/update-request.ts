/**
 * `update_request` (a stream client, and the body of `POST /v1/updates`): which devices are to
 * run which version (docs/protocol.md, "Agent updates: the hub").
 */
import { deviceId } from './fields.js';
import { array, boolean, object, optional, type Infer } from './schema.js';
import { agentVersion, artifactArch } from './update-artifact.js';

/** Which devices an update is for: a list, an architecture, or every device. */
export const updateRequestPayload = object({
  version: agentVersion(),
  devices: optional(array(deviceId(), { maxItems: 10_000 })),
  arch: optional(artifactArch()),
  all: optional(boolean()),
  downgrade: optional(boolean()),
});
export type UpdateRequestPayload = Infer<typeof updateRequestPayload>;
