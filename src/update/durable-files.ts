import { constants } from 'node:fs';
import { chmod, copyFile, link, open, rename, unlink } from 'node:fs/promises';

/**
 * File operations that survive a power cut once they return: data fsync'd before a rename makes
 * it visible, the directory fsync'd after a rename makes the rename itself durable.
 */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `text` to `path` through a temporary file beside it: old or new, never half. */
export async function writeFileDurably(path: string, text: string, dir: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o644);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  await fsyncPath(dir);
}

/** Unlinks, ignoring a file that is not there. */
export async function removeIfThere(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** `target` becomes a second name of `source` (replacing what `target` was). */
export async function hardLinkOver(source: string, target: string): Promise<void> {
  await removeIfThere(target);
  try {
    await link(source, target);
  } catch (err) {
    // fs.protected_hardlinks: a user may not link a file it does not own (a binary root
    // installed). A copy keeps the previous binary all the same, at the cost of its bytes.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    await copyFile(source, target);
    await chmod(target, 0o755);
    await fsyncPath(target);
  }
}
