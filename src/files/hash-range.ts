import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/** How much a transfer reads or hashes at a time: one buffer, never the whole file. */
export const FILE_CHUNK_BYTES = 256 * 1024;

/**
 * Feeds bytes [0, length) of an open file into `hash` (what a resumed transfer already has:
 * the sha256 covers the whole file). Returns false if the file ends before `length`.
 */
export async function hashPrefix(handle: FileHandle, hash: Hash, length: number): Promise<boolean> {
  const buffer = Buffer.allocUnsafe(Math.min(FILE_CHUNK_BYTES * 4, Math.max(length, 1)));
  let at = 0;
  while (at < length) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, length - at), at);
    if (bytesRead === 0) return false;
    hash.update(buffer.subarray(0, bytesRead));
    at += bytesRead;
  }
  return true;
}
