import { nodeSpoolFs, type SpoolFs } from '../../src/storage/spool-fs.js';

/**
 * The real spool file operations with faults a test can switch on: writes refused with an errno
 * (ENOSPC, EROFS, EIO), short writes, counts of writes and syncs. Files are real, in a temp dir.
 */
export class FaultyFs implements SpoolFs {
  /** When set, every write, file creation and replace fails with this errno. */
  writeError: string | null = null;
  /** When set, the next write takes only this many bytes, then writes fail with ENOSPC. */
  shortWriteBytes: number | null = null;
  /** When set, reads fail with this errno. */
  readError: string | null = null;
  writes = 0;
  syncs = 0;
  /** Whole-file replacements (store.json: write, fsync, rename). */
  replaces = 0;

  mkdirp(path: string): void {
    this.#failWrite();
    nodeSpoolFs.mkdirp(path);
  }
  readdir(path: string): string[] {
    this.#failRead();
    return nodeSpoolFs.readdir(path);
  }
  openAppend(path: string): number {
    this.#failWrite();
    return nodeSpoolFs.openAppend(path);
  }
  openRead(path: string): number {
    this.#failRead();
    return nodeSpoolFs.openRead(path);
  }
  write(fd: number, data: Uint8Array): number {
    this.#failWrite();
    this.writes++;
    if (this.shortWriteBytes !== null) {
      const n = nodeSpoolFs.write(
        fd,
        data.subarray(0, Math.min(this.shortWriteBytes, data.length)),
      );
      this.shortWriteBytes = null;
      this.writeError = 'ENOSPC';
      return n;
    }
    return nodeSpoolFs.write(fd, data);
  }
  read(fd: number, into: Uint8Array, position: number): number {
    this.#failRead();
    return nodeSpoolFs.read(fd, into, position);
  }
  datasync(fd: number): void {
    this.#failWrite();
    this.syncs++;
    nodeSpoolFs.datasync(fd);
  }
  truncate(fd: number, length: number): void {
    nodeSpoolFs.truncate(fd, length);
  }
  close(fd: number): void {
    nodeSpoolFs.close(fd);
  }
  size(path: string): number {
    return nodeSpoolFs.size(path);
  }
  unlink(path: string): void {
    this.#failWrite();
    nodeSpoolFs.unlink(path);
  }
  rename(from: string, to: string): void {
    this.#failWrite();
    nodeSpoolFs.rename(from, to);
  }
  readFile(path: string): Buffer {
    this.#failRead();
    return nodeSpoolFs.readFile(path);
  }
  replaceFile(path: string, data: string): void {
    this.#failWrite();
    this.replaces++;
    nodeSpoolFs.replaceFile(path, data);
  }

  #failWrite(): void {
    if (this.writeError) throw errno(this.writeError);
  }
  #failRead(): void {
    if (this.readError) throw errno(this.readError);
  }
}

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected fault`), { code });
}
