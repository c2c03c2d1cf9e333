import { chmod, chown, lstat, mkdir, unlink } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { CodedError } from '../protocol/coded-error.js';
import { LogCode } from '../log/log-codes.js';

/**
 * The socket's file in the file system: made ready before listening, and given its mode and
 * group after. A socket file left by a crashed agent is removed, but only after a connection
 * attempt proves nobody serves it; anything that is not a socket is never deleted.
 */
export interface SocketFs {
  lstat(path: string): Promise<{ isSocket(): boolean }>;
  unlink(path: string): Promise<void>;
  mkdir(path: string, options: { recursive: true; mode: number }): Promise<unknown>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
}

export const realSocketFs: SocketFs = { lstat, unlink, mkdir, chmod, chown };

/** True when something accepts a connection on the socket at `path`. */
export type SocketProbe = (path: string) => Promise<boolean>;

export const probeSocket: SocketProbe = (path) =>
  new Promise((resolve) => {
    const socket = createConnection(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

export class LocalSocketError extends CodedError {}

/** Creates the parent folder if needed and removes a stale socket file; says if it removed one. */
export async function prepareSocketPath(
  path: string,
  fs: SocketFs = realSocketFs,
  probe: SocketProbe = probeSocket,
): Promise<{ removedStale: boolean }> {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o755 });
  let stat: { isSocket(): boolean };
  try {
    stat = await fs.lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { removedStale: false };
    throw err;
  }
  if (!stat.isSocket()) {
    throw new LocalSocketError(
      LogCode.socketPathOccupied,
      `${path} exists and is not a socket; remove it or choose another local.socketPath`,
    );
  }
  if (await probe(path)) {
    throw new LocalSocketError(
      LogCode.socketInUse,
      `${path} is served by another process (is another agent running?)`,
    );
  }
  await fs.unlink(path);
  return { removedStale: true };
}

/** The socket's mode (0660) and, when one is configured, its group. */
export async function applySocketAccess(
  path: string,
  mode: number,
  gid: number | null,
  fs: SocketFs = realSocketFs,
): Promise<void> {
  await fs.chmod(path, mode);
  if (gid !== null) await fs.chown(path, -1, gid);
}

/**
 * A group name or number as a gid: '' is none, digits are a gid, a name is looked up in the
 * group file (`/etc/group` format: `name:x:gid:members`).
 */
export function resolveGroup(group: string, groupFile: () => string): number | null {
  if (group === '') return null;
  if (/^\d+$/.test(group)) return Number(group);
  for (const line of groupFile().split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new LocalSocketError(LogCode.configInvalid, `no group "${group}" in the group file`);
}
