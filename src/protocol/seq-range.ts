import { MAX_SEQ } from './fields.js';

/**
 * Seqs live in [1, MAX_SEQ] (6 bytes in a spool record). A seq the agent numbers on from, a
 * hub's `welcome.last_seq` or a stored `seq_floor`, must leave room to number on: above this
 * one it is an error (a broken hub, or a store.json such a hub poisoned), never used or stored.
 * The headroom, 2^40 seqs, lasts 35 years at 1,000 messages a second.
 */
export const MAX_SEQ_BASE = MAX_SEQ - 2 ** 40;

/** Whether the agent can number on from `seq`. */
export function isUsableSeqBase(seq: number): boolean {
  return Number.isSafeInteger(seq) && seq >= 0 && seq <= MAX_SEQ_BASE;
}
