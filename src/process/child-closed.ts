import type { ChildProcess } from 'node:child_process';

/** How a child ended: its exit code or signal, or the error of a spawn that never started. */
export interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: NodeJS.ErrnoException;
}

/**
 * Settles once `child` has closed (exited and its pipes ended), or at the error of a spawn that
 * failed: such a child has no pid and, on some paths, emits no 'close'.
 */
export function childClosed(child: ChildProcess): Promise<ChildEnd> {
  return new Promise((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) resolve({ code: null, signal: null, error });
    });
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) =>
      resolve({ code, signal }),
    );
  });
}
