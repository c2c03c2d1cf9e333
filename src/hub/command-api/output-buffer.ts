/**
 * One fd's output of one command in the Command API's result store, in a buffer of its own.
 *
 * Why not a list of the chunks as they come: each chunk is decoded from a frame's string with
 * `Buffer.from`, which carves chunks under 4 KiB out of Node's shared 8 KiB pool. A kept chunk
 * keeps its whole pool slab alive, so a thousand results of a few bytes each held 8 MiB where the
 * store counted a few KiB (seen in heap snapshots of a hub under `npm run bench:hub-churn -- --rest`:
 * the slabs grew with the results, retained through `output.stdout[i].buffer`). And every chunk
 * is a Buffer object of its own (about 100 bytes of heap beside its data), so a device sending
 * one byte a chunk would cost the hub a hundred times what the store counts.
 *
 * Here the bytes are copied into memory allocated for this buffer alone (never the pool), which
 * grows by doubling (amortised copying) up to `maxCapacity`; `seal()` gives the spare capacity
 * back once the command has ended. So what is held is at most twice the output while it runs
 * (and at most `maxCapacity`), and exactly the output after.
 */
const EMPTY = Buffer.alloc(0);
/** The first allocation: most commands' output fits. */
export const MIN_OUTPUT_CAPACITY = 256;

export class OutputBuffer {
  readonly #maxCapacity: number;
  #store: Buffer = EMPTY;
  #length = 0;

  constructor(maxCapacity: number) {
    this.#maxCapacity = maxCapacity;
  }

  get length(): number {
    return this.#length;
  }

  /** Bytes of memory this buffer holds (its capacity), what it costs beyond its length. */
  get capacity(): number {
    return this.#store.length;
  }

  append(bytes: Uint8Array): void {
    const needed = this.#length + bytes.length;
    if (needed > this.#store.length) {
      const doubled = Math.min(
        Math.max(MIN_OUTPUT_CAPACITY, this.#store.length * 2),
        this.#maxCapacity,
      );
      this.#resize(Math.max(needed, doubled));
    }
    this.#store.set(bytes, this.#length);
    this.#length = needed;
  }

  /** Keeps the first `length` bytes. */
  truncate(length: number): void {
    this.#length = Math.max(0, Math.min(this.#length, length));
  }

  /** No more output comes: the buffer shrinks to what it holds. */
  seal(): void {
    if (this.#store.length > this.#length) this.#resize(this.#length);
  }

  /** The output (a view, valid until the next append). */
  bytes(): Buffer {
    return this.#store.subarray(0, this.#length);
  }

  #resize(capacity: number): void {
    // allocUnsafeSlow: never a slice of the shared pool. Every byte up to `length` is written
    // before it is read (copied here, or set by `append`).
    const next = capacity === 0 ? EMPTY : Buffer.allocUnsafeSlow(capacity);
    this.#store.copy(next, 0, 0, this.#length);
    this.#store = next;
  }
}
