import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { isPlainObject } from '../protocol/schema.js';

/**
 * Where the hub keeps each device's delivery cursor across its own restarts (`--state-dir`):
 * an append-only file of JSON lines, `{"d":device,"s":store,"q":seq}`, the last line per device
 * winning. Each line is written (to the kernel, synchronously) before the frame it covers is
 * relayed, so a hub killed with SIGKILL never relays a seq twice after it comes back. Once the
 * file has many more lines than devices it is rewritten as a snapshot (write, then rename).
 *
 * Making one touches no file: `open()` (from `Hub.start()`) reads and opens it, and throws the
 * file system's error when the directory cannot be made, read or written.
 */
export interface Cursor {
  storeId: string;
  lastSeq: number;
}

/** The file operations the journal uses; tests inject faults here. */
export interface JournalFs {
  mkdirp(path: string): void;
  readFile(path: string): string | null;
  openAppend(path: string): number;
  append(fd: number, text: string): void;
  close(fd: number): void;
  replaceFile(path: string, text: string): void;
}

export const nodeJournalFs: JournalFs = {
  mkdirp: (path) => void mkdirSync(path, { recursive: true }),
  readFile: (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  },
  openAppend: (path) => openSync(path, 'a'),
  append: (fd, text) => void writeSync(fd, text),
  close: (fd) => closeSync(fd),
  replaceFile: (path, text) => {
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  },
};

const FILE = 'delivery.jsonl';
/** Rewrite the journal once it holds this many lines beyond one per device. */
const COMPACT_EXTRA_LINES = 10_000;

export class DeliveryJournal {
  readonly #fs: JournalFs;
  readonly #path: string;
  readonly #cursors = new Map<string, Cursor>();
  readonly #dir: string;
  /** The open file; null before `open()` and after `close()`. */
  #fd: number | null = null;
  #lines = 0;

  constructor(dir: string, fs: JournalFs) {
    this.#fs = fs;
    this.#dir = dir;
    this.#path = join(dir, FILE);
  }

  /**
   * Reads the journal (unreadable lines are skipped: a torn last line after a crash), rewrites
   * it as a snapshot and opens it for appending; returns the cursors it kept.
   */
  open(): ReadonlyMap<string, Cursor> {
    if (this.#fd !== null) throw new Error('the delivery journal is already open');
    this.#fs.mkdirp(this.#dir);
    for (const line of (this.#fs.readFile(this.#path) ?? '').split('\n')) {
      const entry = parseLine(line);
      if (entry) this.#cursors.set(entry.deviceId, entry.cursor);
    }
    this.#compact();
    this.#fd = this.#fs.openAppend(this.#path);
    return this.#cursors;
  }

  record(deviceId: string, cursor: Cursor): void {
    if (this.#fd === null) throw new Error('the delivery journal is not open');
    this.#cursors.set(deviceId, { ...cursor });
    this.#fs.append(
      this.#fd,
      `${JSON.stringify({ d: deviceId, s: cursor.storeId, q: cursor.lastSeq })}\n`,
    );
    if (++this.#lines > this.#cursors.size + COMPACT_EXTRA_LINES) {
      this.#fs.close(this.#fd);
      this.#fd = null;
      this.#compact();
      this.#fd = this.#fs.openAppend(this.#path);
    }
  }

  /** Closes the file; a journal never opened (its hub never started) has nothing to close. */
  close(): void {
    if (this.#fd === null) return;
    this.#fs.close(this.#fd);
    this.#fd = null;
  }

  #compact(): void {
    const lines = [...this.#cursors].map(([d, c]) =>
      JSON.stringify({ d, s: c.storeId, q: c.lastSeq }),
    );
    this.#fs.replaceFile(this.#path, lines.length > 0 ? `${lines.join('\n')}\n` : '');
    this.#lines = lines.length;
  }
}

function parseLine(line: string): { deviceId: string; cursor: Cursor } | null {
  let decoded: unknown;
  try {
    decoded = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isPlainObject(decoded)) return null;
  const { d, s, q } = decoded;
  if (typeof d !== 'string' || typeof s !== 'string' || !Number.isSafeInteger(q)) return null;
  return { deviceId: d, cursor: { storeId: s, lastSeq: q as number } };
}
