/**
 * Whether an account may read, write or search a file by its permission bits, as the kernel
 * would decide for that account: owner bits when it owns the file, group bits when the file's
 * group is its primary or a supplementary group, the other bits otherwise. Root may do all.
 *
 * Used when commands run as another user (`commands.user`): the agent runs as root and opens
 * the files itself, so it must refuse what that user could not do. POSIX ACLs and capabilities
 * are not consulted (README, File transfers): a file an ACL opens to the user is refused, one an
 * ACL closes to it is not.
 */
export interface Account {
  uid: number;
  gid: number;
  /** Supplementary group ids. */
  groups: readonly number[];
}

export const Access = { read: 4, write: 2, search: 1 } as const;

export interface OwnedMode {
  mode: number;
  uid: number;
  gid: number;
}

export function mayAccess(file: OwnedMode, account: Account, want: number): boolean {
  if (account.uid === 0) return true;
  const bits =
    file.uid === account.uid
      ? (file.mode >> 6) & 7
      : file.gid === account.gid || account.groups.includes(file.gid)
        ? (file.mode >> 3) & 7
        : file.mode & 7;
  return (bits & want) === want;
}
