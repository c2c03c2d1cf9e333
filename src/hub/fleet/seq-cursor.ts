/**
 * A position in one device's store: the spool identity (`hello.store_id`, '' when the agent names
 * none) and a seq in it. Raised only within the same store; a new store starts it over at 0.
 * `storeId` is null until the hub has heard of any store (neither a hello nor a cursor yet).
 */
export class SeqCursor {
  storeId: string | null = null;
  lastSeq = 0;

  /** The device said hello from `storeId`: a different store's seqs start over. */
  openStore(storeId: string): void {
    if (this.storeId === storeId) return;
    this.storeId = storeId;
    this.lastSeq = 0;
  }

  /** Takes `seq` if it is ahead within the same store (or no store is known yet). */
  raise(storeId: string, seq: number): void {
    if (this.storeId === null) this.storeId = storeId;
    if (this.storeId === storeId && seq > this.lastSeq) this.lastSeq = seq;
  }

  /** True (and recorded) when `seq` is past the cursor: not seen before. */
  advance(seq: number): boolean {
    if (seq <= this.lastSeq) return false;
    this.lastSeq = seq;
    return true;
  }
}
