/**
 * Newline-delimited framing for the local socket. Bytes go in as they arrive; each complete
 * line comes out as UTF-8 text without its `\n` (a trailing `\r` is dropped too). A line that
 * grows past `maxLineBytes` without a newline is reported once and the splitter stops: the
 * caller closes that connection, since nothing after it can be framed reliably.
 *
 * Pieces of an unfinished line are kept as a list and joined once, so a long line that
 * arrives in many small reads costs linear time. The complete lines of a read are decoded as
 * one string and split there (a `\n` byte is never part of a multi-byte UTF-8 character, so
 * this gives the same text as decoding line by line): one decode a read instead of a buffer
 * view and a decode a line, which was most of what framing cost (issue 21). A run longer than
 * `maxLineBytes` is framed line by line instead, to measure each line in bytes.
 */
export interface LineSplitterOptions {
  maxLineBytes: number;
  onLine: (line: string) => void;
  onOverflow: (bytes: number) => void;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

export class LineSplitter {
  readonly #o: LineSplitterOptions;
  #pieces: Buffer[] = [];
  #pendingBytes = 0;
  #overflowed = false;

  constructor(options: LineSplitterOptions) {
    this.#o = options;
  }

  push(chunk: Buffer): void {
    if (this.#overflowed) return;
    let start = 0;
    if (this.#pieces.length > 0) {
      start = this.#takeLine(chunk, 0); // finish the line begun in an earlier read
      if (start < 0) return;
    }
    const last = chunk.lastIndexOf(NEWLINE);
    if (last >= start && last - start <= this.#o.maxLineBytes) {
      // Every line in chunk[start, last) is within the limit: decode them all at once.
      const text = chunk.toString('utf8', start, last);
      let from = 0;
      for (;;) {
        const nl = text.indexOf('\n', from);
        this.#emit(nl < 0 ? text.slice(from) : text.slice(from, nl));
        if (nl < 0) break;
        from = nl + 1;
      }
      start = last + 1;
    }
    while (start >= 0 && start < chunk.length) start = this.#takeLine(chunk, start);
  }

  /**
   * Adds chunk[start, next newline) to the line being gathered and emits it if the newline is
   * there; returns where the next line starts, or -1 when the chunk is used up or overflowed.
   */
  #takeLine(chunk: Buffer, start: number): number {
    if (this.#overflowed) return -1;
    const nl = chunk.indexOf(NEWLINE, start);
    const end = nl < 0 ? chunk.length : nl;
    this.#pendingBytes += end - start;
    if (this.#pendingBytes > this.#o.maxLineBytes) {
      this.#overflowed = true;
      this.#pieces = [];
      this.#o.onOverflow(this.#pendingBytes);
      return -1;
    }
    if (end > start) this.#pieces.push(chunk.subarray(start, end));
    if (nl < 0) return -1;
    const bytes = this.#pieces.length === 1 ? this.#pieces[0] : Buffer.concat(this.#pieces);
    this.#pieces = [];
    this.#pendingBytes = 0;
    this.#emit(bytes?.toString('utf8') ?? '');
    return nl + 1;
  }

  #emit(line: string): void {
    const text = line.charCodeAt(line.length - 1) === CARRIAGE_RETURN ? line.slice(0, -1) : line;
    if (text.trim() !== '') this.#o.onLine(text);
  }
}
