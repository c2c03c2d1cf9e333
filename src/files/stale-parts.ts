import { lstat, readdir, unlink } from 'node:fs/promises';
import { posix } from 'node:path';

/** What an upload's temporary file is called (src/protocol/file-sessions.ts devicePartName). */
const PART_NAME = /^\..+\.[0-9a-f]{16}\.iottly-part$/;

/**
 * Removes the upload parts in `dir` untouched for longer than `maxAgeMs` (an upload given up:
 * nobody resumes it, and each may hold up to files.maxBytes), except those in use. Run before
 * each upload into that directory: one readdir, no scan of the roots. Returns what it removed.
 */
export async function removeStaleParts(
  dir: string,
  maxAgeMs: number,
  nowMs: number,
  inUse: ReadonlySet<string>,
): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!PART_NAME.test(name)) continue;
    const path = posix.join(dir, name);
    if (inUse.has(path)) continue;
    const st = await lstat(path).catch(() => null);
    if (!st?.isFile() || nowMs - st.mtimeMs <= maxAgeMs) continue;
    await unlink(path).then(
      () => removed.push(path),
      () => undefined,
    );
  }
  return removed;
}
