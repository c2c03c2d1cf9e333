import { accessSync, constants, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

/**
 * Where an `argv` program named without a `/` is found: in the agent's own PATH, never in the
 * request's `env.PATH` (Node's spawn would search the child's environment, which is how a
 * client-chosen PATH could swap `ls` for a program of its own). The absolute path found is what
 * is spawned.
 *
 * Empty and relative PATH entries are skipped: they are relative to the working directory, which
 * the request chooses.
 */
export type ExecutableCheck = (path: string) => boolean;

export function isExecutableFile(path: string): boolean {
  try {
    // No exception for the common miss: most PATH entries do not hold the program.
    if (statSync(path, { throwIfNoEntry: false })?.isFile() !== true) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of `name` in `searchPath` (a PATH value), or null when it is not there. */
export function resolveProgram(
  name: string,
  searchPath: string | undefined,
  isExecutable: ExecutableCheck = isExecutableFile,
): string | null {
  for (const dir of (searchPath ?? '').split(':')) {
    if (!isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

/** PATH without its empty and relative entries (commands start from this one). */
export function absolutePath(searchPath: string): string {
  return searchPath
    .split(':')
    .filter((dir) => isAbsolute(dir))
    .join(':');
}
