/**
 * Newline-delimited framing for the local socket. Bytes go in as they arrive; each complete
 * line comes out as UTF-8 text without its `\n` (a trailing `\r` is dropped too). A line that
 * grows past `maxLineBytes` without a newline is reported once and the splitter stops: the
 * caller closes that connection, since nothing after it can be framed reliably.
 *
 * Pieces of an unfinished line are kept as a list and joined once, so a long line that
 * arrives in many small reads costs linear time.
 */
export interface LineSplitterOptions {
  maxLineBytes: number;
  onLine: (line: string) => void;
  onOverflow: (bytes: number) => void;
}

const NEWLINE = 0x0a;

export class LineSplitter {
  readonly #o: LineSplitterOptions;
  #pieces: Buffer[] = [];
  #pendingBytes = 0;
  #overflowed = false;

  constructor(options: LineSplitterOptions) {
    this.#o = options;
  }

  push(chunk: Buffer): void {
    let start = 0;
    while (!this.#overflowed && start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl < 0 ? chunk.length : nl;
      this.#pendingBytes += end - start;
      if (this.#pendingBytes > this.#o.maxLineBytes) {
        this.#overflowed = true;
        this.#pieces = [];
        this.#o.onOverflow(this.#pendingBytes);
        return;
      }
      if (end > start) this.#pieces.push(chunk.subarray(start, end));
      if (nl < 0) return;
      const bytes = this.#pieces.length === 1 ? this.#pieces[0] : Buffer.concat(this.#pieces);
      this.#pieces = [];
      this.#pendingBytes = 0;
      start = nl + 1;
      let text = bytes?.toString('utf8') ?? '';
      if (text.endsWith('\r')) text = text.slice(0, -1);
      if (text.trim() !== '') this.#o.onLine(text);
    }
  }
}
