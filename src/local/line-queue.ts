/**
 * Lines waiting for one app, oldest first, with the UTF-8 bytes they hold. A head index instead
 * of `shift()` keeps taking from the front O(1); the array is compacted once half of it is
 * spent.
 */
export class LineQueue {
  #lines: string[] = [];
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;

  get length(): number {
    return this.#lines.length - this.#head;
  }

  /** UTF-8 bytes of the lines waiting. */
  get bytes(): number {
    return this.#bytes;
  }

  push(line: string): void {
    const size = Buffer.byteLength(line);
    this.#lines.push(line);
    this.#sizes.push(size);
    this.#bytes += size;
  }

  /** Takes the oldest line out; undefined when empty. */
  shift(): string | undefined {
    if (this.#head === this.#lines.length) return undefined;
    const line = this.#lines[this.#head] as string;
    this.#bytes -= this.#sizes[this.#head] as number;
    this.#head++;
    this.#compact();
    return line;
  }

  /** Drops the oldest line; returns its bytes (0 when empty). */
  dropOldest(): number {
    if (this.#head === this.#lines.length) return 0;
    const size = this.#sizes[this.#head] as number;
    this.shift();
    return size;
  }

  clear(): void {
    this.#lines = [];
    this.#sizes = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  #compact(): void {
    if (this.#head === this.#lines.length) this.clear();
    else if (this.#head > 1024 && this.#head * 2 > this.#lines.length) {
      this.#lines = this.#lines.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
  }
}
