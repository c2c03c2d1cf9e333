import { createHash } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { LogCode } from '../log/log-codes.js';

/**
 * One agent per `storage.dir`: two would number the same seqs and delete each other's segments.
 *
 * The lock is a Linux abstract Unix socket named after the directory (its device and inode, so
 * two spellings of one path are one lock). The kernel frees it when its process ends, however
 * it ends (`kill -9` included), so there is no stale lock to take over and no race doing so;
 * it writes nothing to the SD card. A second agent fails to bind (EADDRINUSE), connects, and
 * reads the holder's pid, which the holder writes to every connection.
 *
 * Elsewhere than Linux (no abstract sockets), or where Unix sockets are not allowed, the
 * directory is not locked (logged): the agent still runs.
 */
export class SpoolLockedError extends Error {
  readonly code = LogCode.spoolLocked;

  constructor(
    readonly dir: string,
    readonly holderPid: number | null,
  ) {
    super(
      `storage.dir ${dir} is in use by another iottly-agent (pid ${holderPid ?? 'unknown'}): one agent per spool directory`,
    );
    this.name = 'SpoolLockedError';
  }
}

export interface SpoolLock {
  release(): Promise<void>;
}

export interface SpoolLockOptions {
  logger: Logger;
  pid?: number;
  platform?: NodeJS.Platform;
  /** Names the directory for the lock (default: its device and inode, made if missing). */
  identify?: (dir: string) => string;
}

/** How long a second agent waits for the holder to say its pid. */
const HOLDER_REPLY_MS = 1_000;

export async function lockSpoolDir(dir: string, options: SpoolLockOptions): Promise<SpoolLock> {
  const { logger, pid = process.pid, platform = process.platform } = options;
  const identify = options.identify ?? directoryIdentity;
  const unlocked = (reason: string): SpoolLock => {
    logger.warn(
      { code: LogCode.spoolLockUnavailable, dir, reason },
      'cannot lock storage.dir: running without the one-agent-per-directory check',
    );
    return { release: async () => {} };
  };
  if (platform !== 'linux') return unlocked(`no abstract Unix sockets on ${platform}`);
  const name = `\0iottly-agent-spool-${createHash('sha256').update(identify(dir)).digest('hex').slice(0, 32)}`;
  const server = createServer((socket) => {
    socket.on('error', () => {}); // a peer gone before the reply: nothing to do
    socket.end(`${pid}\n`);
  });
  try {
    await listen(server, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new SpoolLockedError(dir, await holderPid(name));
    }
    return unlocked(String((err as NodeJS.ErrnoException).code ?? err));
  }
  server.unref(); // the lock never keeps the process alive
  return { release: () => new Promise((done) => server.close(() => done())) };
}

/**
 * The directory's device and inode; when it cannot be made or read (the spool then runs from
 * memory), its absolute path.
 */
function directoryIdentity(dir: string): string {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { dev, ino } = statSync(dir);
    return `inode:${dev}:${ino}`;
  } catch {
    return `path:${resolve(dir)}`;
  }
}

function listen(server: Server, name: string): Promise<void> {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(name, () => {
      server.off('error', fail);
      done();
    });
  });
}

/** The pid the holder writes to whoever connects, or null when it does not say in time. */
function holderPid(name: string): Promise<number | null> {
  return new Promise((done) => {
    let text = '';
    const socket = createConnection(name);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const pid = Number(text.trim());
      done(Number.isSafeInteger(pid) && pid > 0 ? pid : null);
    };
    const timer = setTimeout(finish, HOLDER_REPLY_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 32) finish(); // a pid is short: anything longer is not our holder
    });
    socket.on('end', finish);
    socket.on('error', finish);
  });
}
