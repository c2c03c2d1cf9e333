import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { removeIfThere } from './durable-files.js';

/**
 * The file an artifact's bytes arrive in, beside the binary. An existing one (an interrupted
 * earlier session of the same artifact: its name carries the sha256) is continued from its
 * length, the session's `offset`. Writes are appended in order; the caller bounds how many wait.
 */
export class PartFile {
  readonly path: string;
  readonly size: number;
  /** Bytes already there when this session opened it. */
  readonly offset: number;
  #length: number;
  #handle: FileHandle | null;

  private constructor(path: string, size: number, handle: FileHandle, offset: number) {
    this.path = path;
    this.size = size;
    this.offset = offset;
    this.#length = offset;
    this.#handle = handle;
  }

  static async open(path: string, size: number): Promise<PartFile> {
    const existing = await stat(path).catch(() => null);
    let offset = existing?.isFile() ? existing.size : 0;
    if (offset > size) {
      // Longer than the artifact: not a prefix of it, start over.
      await truncate(path, 0);
      offset = 0;
    }
    const handle = await open(path, 'a', 0o600);
    return new PartFile(path, size, handle, offset);
  }

  /** Bytes in the file (what was there plus what this session wrote). */
  get length(): number {
    return this.#length;
  }

  /** Appends; throws (`RangeError`) when the bytes would go past `size`. */
  async append(bytes: Buffer): Promise<void> {
    if (this.#handle === null) throw new Error('part file closed');
    if (this.#length + bytes.length > this.size)
      throw new RangeError(
        `${this.#length + bytes.length} bytes, more than the artifact's ${this.size}`,
      );
    this.#length += bytes.length;
    await this.#handle.write(bytes);
  }

  /** fsync'd and closed: kept for a resume, or for the swap. */
  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    if (handle === null) return;
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** The sha256 of the whole file as it is on disk (the earlier session's bytes too). */
  async sha256(): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(this.path)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  async discard(): Promise<void> {
    await this.close().catch(() => {});
    await removeIfThere(this.path);
  }
}
