import type { Cursor, DeliveryJournal } from './delivery-journal.js';

/**
 * Exactly-once processing of agent messages: per device, the store the agent spools in and the
 * last seq processed from it. A frame whose seq is not above the cursor is a duplicate (a
 * resend after a lost ack): acknowledged, never relayed again. A seq further ahead is taken
 * (the agent dropped messages in between, and reports them). A different store identity in
 * `hello` means the agent's spool was wiped: its seqs start over.
 *
 * With a journal, cursors survive the hub's restarts (`restore()` reads them back when the hub
 * starts); without one they live in memory.
 */
const NO_STORE = '';

export class DeliveryCursors {
  readonly #cursors = new Map<string, Cursor>();
  readonly #journal: DeliveryJournal | null;

  constructor(journal: DeliveryJournal | null = null) {
    this.#journal = journal;
  }

  /** Opens the journal, if any, and takes the cursors it kept; throws what the journal throws. */
  restore(): void {
    if (!this.#journal) return;
    for (const [id, cursor] of this.#journal.open()) this.#cursors.set(id, { ...cursor });
  }

  /** A device said hello from `storeId`; returns the last seq processed from that store. */
  open(deviceId: string, storeId: string | undefined): number {
    const store = storeId ?? NO_STORE;
    const cursor = this.#cursors.get(deviceId);
    if (cursor && cursor.storeId === store) return cursor.lastSeq;
    const fresh = { storeId: store, lastSeq: 0 };
    this.#cursors.set(deviceId, fresh);
    this.#journal?.record(deviceId, fresh);
    return 0;
  }

  /** True when `seq` is new for the device (and now recorded as processed); false for a duplicate. */
  accept(deviceId: string, seq: number): boolean {
    let cursor = this.#cursors.get(deviceId);
    if (!cursor) {
      cursor = { storeId: NO_STORE, lastSeq: 0 };
      this.#cursors.set(deviceId, cursor);
    }
    if (seq <= cursor.lastSeq) return false;
    cursor.lastSeq = seq;
    this.#journal?.record(deviceId, cursor);
    return true;
  }

  lastSeq(deviceId: string): number {
    return this.#cursors.get(deviceId)?.lastSeq ?? 0;
  }

  close(): void {
    this.#journal?.close();
  }
}
