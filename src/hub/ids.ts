import { randomBytes } from 'node:crypto';

/**
 * Where the hub's ids come from (subscriptions, forwarded requests, client links): `prefix_` plus
 * something unique. Injected so tests can use predictable ids.
 */
export type IdSource = (prefix: string) => string;

/** 96 random bits: unguessable, so no client can name another client's subscription or request. */
export const randomIds: IdSource = (prefix) => `${prefix}_${randomBytes(12).toString('base64url')}`;

const MAX_ATTEMPTS = 8;

/** An id from `ids` that `taken` does not already hold (a collision only retries). */
export function uniqueId(ids: IdSource, prefix: string, taken: (id: string) => boolean): string {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const id = ids(prefix);
    if (!taken(id)) return id;
  }
  throw new Error(
    `the id source returned ${MAX_ATTEMPTS} ids in a row that are in use ("${prefix}_…")`,
  );
}
