import { constants, type Stats } from 'node:fs';
import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, posix } from 'node:path';
import { ErrorCode } from '../protocol/error-codes.js';
import { Access, mayAccess, type Account } from './access.js';

/**
 * Which paths a transfer may touch: only files under the roots of `files.allowPaths`, judged on
 * real paths so that neither `..` nor a symlink leads out. The parent directory is resolved with
 * realpath and must lie in a root (resolved the same way); a symlink as the last component is
 * followed only to a file that lies in a root too; a path holding `..` is refused outright.
 * The check is made again on the opened descriptor (`verifyOpened`), so a symlink swapped in
 * between the check and the open is caught.
 */
export type PolicyRefusal = { ok: false; code: ErrorCode; message: string };

export interface ResolvedPath {
  ok: true;
  /** The real directory the file is in (realpath of the asked path's parent). */
  dir: string;
  /** The file's name in `dir` (a symlink's target's name when the asked path was a link). */
  name: string;
  /** dir/name. */
  target: string;
  /** The target's stat, null when it does not exist. */
  stat: Stats | null;
  /** The directory's stat. */
  dirStat: Stats;
}

export interface PathPolicyOptions {
  /** files.allowPaths, absolute. */
  roots: readonly string[];
  /** The account whose permissions apply (commands.user), null for the agent's own. */
  account: Account | null;
  /** Where the process's descriptors are listed (tests may point elsewhere). */
  procSelfFd?: string;
}

export class PathPolicy {
  readonly #o: PathPolicyOptions;

  constructor(options: PathPolicyOptions) {
    this.#o = options;
  }

  /** Resolves `path` for reading (`file_get`) or writing (`file_put`), or says why not. */
  async resolve(path: string, purpose: 'read' | 'write'): Promise<ResolvedPath | PolicyRefusal> {
    if (this.#o.roots.length === 0)
      return denied(
        'no path may be transferred: files.allowPaths is empty (list the directories transfers may use)',
      );
    if (path.split('/').includes('..'))
      return denied(`${quote(path)}: a path may not contain ".." (give it as an absolute path)`);
    const normal = posix.normalize(path);
    if (normal.endsWith('/') || basename(normal) === '')
      return denied(`${quote(path)} names a directory, not a file`);
    const roots = await this.#realRoots();
    let dir: string;
    try {
      dir = await realpath(dirname(normal));
    } catch (err) {
      return fsRefusal(err, `directory of ${quote(path)}`);
    }
    if (!within(dir, roots)) return denied(`${quote(path)} is outside files.allowPaths`);
    let name = basename(normal);
    let target = posix.join(dir, name);
    let found: Stats | null;
    try {
      found = await lstat(target);
    } catch (err) {
      if (errno(err) !== 'ENOENT') return fsRefusal(err, quote(path));
      found = null;
    }
    if (found?.isSymbolicLink()) {
      let real: string;
      try {
        real = await realpath(target);
      } catch (err) {
        return errno(err) === 'ENOENT'
          ? denied(`${quote(path)} is a symlink to nothing`)
          : fsRefusal(err, quote(path));
      }
      if (!within(real, roots))
        return denied(`${quote(path)} is a symlink that leads outside files.allowPaths`);
      dir = dirname(real);
      name = basename(real);
      target = real;
      found = await stat(real).catch(() => null);
    }
    if (found === null && purpose === 'read')
      return { ok: false, code: ErrorCode.fileNotFound, message: `${quote(path)}: no such file` };
    if (found !== null && !found.isFile())
      return denied(
        `${quote(path)} is ${found.isDirectory() ? 'a directory' : 'not a regular file'}`,
      );
    const dirStat = await stat(dir);
    const refusal = await this.#permission(dir, dirStat, found, purpose, path);
    if (refusal) return refusal;
    return { ok: true, dir, name, target, stat: found, dirStat };
  }

  /**
   * The descriptor `fd` was opened on `expected` (no symlink or rename raced the check): its
   * /proc link names the same path, or, where /proc is not mounted, it is the same inode.
   */
  async verifyOpened(fd: number, expected: string, fdStat: Stats): Promise<boolean> {
    const proc = this.#o.procSelfFd ?? '/proc/self/fd';
    try {
      return (await readlink(`${proc}/${fd}`)) === expected;
    } catch {
      const now = await lstat(expected).catch(() => null);
      return now !== null && now.ino === fdStat.ino && now.dev === fdStat.dev;
    }
  }

  /** The account's permission on the directory (search, and write to create) and the file. */
  async #permission(
    dir: string,
    dirStat: Stats,
    file: Stats | null,
    purpose: 'read' | 'write',
    asked: string,
  ): Promise<PolicyRefusal | null> {
    const account = this.#o.account;
    if (account === null) return null; // the kernel judges the agent's own opens
    const user = `the user commands run as (uid ${account.uid})`;
    // Every directory on the way must be searchable, as for the kernel's path walk.
    for (let at = dir; ; at = dirname(at)) {
      const st = at === dir ? dirStat : await stat(at);
      if (!mayAccess(st, account, Access.search))
        return denied(`${user} may not enter ${quote(at)}`);
      if (at === '/') break;
    }
    if (purpose === 'write' && !mayAccess(dirStat, account, Access.write))
      return denied(`${user} may not create files in ${quote(dir)}`);
    const want = purpose === 'read' ? Access.read : Access.write;
    if (file !== null && !mayAccess(file, account, want))
      return denied(`${user} may not ${purpose} ${quote(asked)}`);
    return null;
  }

  async #realRoots(): Promise<string[]> {
    const real = await Promise.all(this.#o.roots.map((root) => realpath(root).catch(() => null)));
    return real.filter((root): root is string => root !== null);
  }
}

/** Open flags that refuse a symlink as the last component (the check resolved it already). */
export const NO_FOLLOW = constants.O_NOFOLLOW;

export function within(path: string, roots: readonly string[]): boolean {
  return roots.some(
    (root) => path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`),
  );
}

function denied(message: string): PolicyRefusal {
  return { ok: false, code: ErrorCode.fileDenied, message };
}

/** An fs error as the refusal it means for the client. */
export function fsRefusal(err: unknown, what: string): PolicyRefusal {
  const code = errno(err);
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return {
      ok: false,
      code: ErrorCode.fileNotFound,
      message: `${what}: no such file or directory`,
    };
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ELOOP')
    return denied(
      `${what}: ${code === 'ELOOP' ? 'a symlink where none may be' : 'permission denied'} (${code})`,
    );
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG')
    return { ok: false, code: ErrorCode.fileTooLarge, message: `${what}: no space left (${code})` };
  return {
    ok: false,
    code: ErrorCode.internalError,
    message: `${what}: ${(err as Error)?.message ?? String(err)}`,
  };
}

export function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** A client's path in a message, bounded (it may be 4096 characters long). */
export function quote(path: string): string {
  return JSON.stringify(path.length > 300 ? `${path.slice(0, 300)}…` : path);
}
