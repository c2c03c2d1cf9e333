import {
  closeSync,
  fdatasyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';

/**
 * The file operations the spool uses, and nothing more: the seam where tests inject disk
 * faults (ENOSPC, EROFS, EIO, short writes). Synchronous on purpose: writes land in the page
 * cache in microseconds, and a spool with no interleaved async I/O has no races between append,
 * read, release and eviction. The slow part on an SD card, fsync, runs at most once per flush.
 */
export interface SpoolFs {
  mkdirp(path: string): void;
  readdir(path: string): string[];
  /** Opens for appending, creating the file. */
  openAppend(path: string): number;
  openRead(path: string): number;
  /** Writes what it can; returns the bytes written (short on a full disk). */
  write(fd: number, data: Uint8Array): number;
  read(fd: number, into: Uint8Array, position: number): number;
  datasync(fd: number): void;
  truncate(fd: number, length: number): void;
  close(fd: number): void;
  size(path: string): number;
  unlink(path: string): void;
  /** Moves a file or directory (within one file system: a rename, no copying). */
  rename(from: string, to: string): void;
  readFile(path: string): Buffer;
  /** Replaces the file atomically (write a temporary file, then rename over). */
  replaceFile(path: string, data: string): void;
}

export const nodeSpoolFs: SpoolFs = {
  mkdirp: (path) => void mkdirSync(path, { recursive: true, mode: 0o700 }),
  readdir: (path) => readdirSync(path),
  openAppend: (path) => openSync(path, 'a', 0o600),
  openRead: (path) => openSync(path, 'r'),
  write: (fd, data) => writeSync(fd, data),
  read: (fd, into, position) => readSync(fd, into, 0, into.length, position),
  datasync: (fd) => fdatasyncSync(fd),
  truncate: (fd, length) => ftruncateSync(fd, length),
  close: (fd) => closeSync(fd),
  size: (path) => statSync(path).size,
  unlink: (path) => unlinkSync(path),
  rename: (from, to) => renameSync(from, to),
  readFile: (path) => readFileSync(path),
  replaceFile: (path, data) => {
    const temporary = `${path}.tmp`;
    writeFileSync(temporary, data, { mode: 0o600 });
    renameSync(temporary, path);
  },
};

/** The error codes that mean "the disk cannot take writes now": degrade, retry later. */
export function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? 'EUNKNOWN';
}
