import { randomBytes } from 'node:crypto';
import type { IdSource } from '../ids.js';

/**
 * A hub's instance id on the broker: `hub-` and 12 random characters, new at every start, so a
 * restarted hub never inherits a dead one's retained wants (docs/protocol.md, "Topics").
 */
export function randomHubId(): string {
  return `hub-${randomBytes(9)
    .toString('base64url')
    .replace(/[^A-Za-z0-9]/g, 'x')}`;
}

/** Forwarded requests' ids on a hub of a fleet: they start with the hub's id. */
export function hubRequestIds(hubId: string, ids: IdSource): IdSource {
  return (prefix) => `${hubId}.${ids(prefix)}`;
}
