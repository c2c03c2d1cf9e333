import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Replaces `path` with `content` so that a reader sees the old file or the new one, never part of
 * one: written to a new temporary file beside it (created with `mode`, then set to exactly `mode`
 * whatever the umask), flushed to disk, renamed over `path`, and the folder flushed so the rename
 * survives a power cut. The folder is created (0755) if missing. Throws an Error naming the path.
 */
export function writeFileAtomic(path: string, content: string, mode: number): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const fd = openSync(temp, 'wx', mode);
    try {
      fchmodSync(fd, mode);
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (err) {
    removeQuietly(temp); // nothing there once renamed, or if the folder was never made
    throw new Error(`cannot write "${path}": ${(err as Error).message}`, { cause: err });
  }
}

function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // the error worth reporting is the one being thrown
  }
}
