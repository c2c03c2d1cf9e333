import { chmod, rename } from 'node:fs/promises';
import { fsyncPath, hardLinkOver, removeIfThere, writeFileDurably } from './durable-files.js';
import type { InstallPaths } from './install-paths.js';
import { serializeUpdateState, type RollbackCause, type UpdateState } from './update-state.js';

/**
 * The swap of a verified binary into place, and its undoing, as steps that each leave a binary
 * that starts whatever happens next (a power cut, SIGKILL):
 *
 *   staged         the new file fsync'd and executable (current: old)
 *   previous       `previous` is a hard link to the current binary (current: old)
 *   state          the trial state written and fsync'd (current: old; a trial whose `to` is
 *                  not the running version counts as failed, so the old one reports it)
 *   swapped        the new file renamed over the binary (current: new, atomically)
 *   synced         the directory fsync'd: the rename survives a power cut
 *
 * `afterStep` runs after each (tests kill the process there); real callers pass nothing.
 */
export const SWAP_STEPS = ['staged', 'previous', 'state', 'swapped', 'synced'] as const;
export type SwapStep = (typeof SWAP_STEPS)[number];

export type StepHook = (step: SwapStep | RollbackStep) => void | Promise<void>;

export async function swapIn(
  paths: InstallPaths,
  staged: string,
  trial: UpdateState,
  afterStep: StepHook = () => {},
): Promise<void> {
  await chmod(staged, 0o755);
  await fsyncPath(staged);
  await afterStep('staged');
  await hardLinkOver(paths.binary, paths.previous);
  await fsyncPath(paths.dir);
  await afterStep('previous');
  await writeFileDurably(paths.state, serializeUpdateState(trial), paths.dir);
  await afterStep('state');
  await rename(staged, paths.binary);
  await afterStep('swapped');
  await fsyncPath(paths.dir);
  await afterStep('synced');
}

/**
 * Puts the previous binary back and records why, for the agent that runs next to report:
 *
 *   restored       `previous` renamed over the binary (atomically; the tried build is gone)
 *   recorded       the state says rolled_back with the cause
 *
 * A cut between the two leaves a trial state with the old binary running: it reports that as a
 * failure too (cause `crashed`, the most it can know).
 */
export const ROLLBACK_STEPS = ['restored', 'recorded'] as const;
export type RollbackStep = (typeof ROLLBACK_STEPS)[number];

export async function rollBack(
  paths: InstallPaths,
  state: UpdateState,
  cause: RollbackCause,
  afterStep: StepHook = () => {},
): Promise<void> {
  await rename(paths.previous, paths.binary).catch((err: NodeJS.ErrnoException) => {
    // Already restored (by the guard, or a rollback cut short after its rename).
    if (err.code !== 'ENOENT') throw err;
  });
  await fsyncPath(paths.dir);
  await afterStep('restored');
  await writeFileDurably(
    paths.state,
    serializeUpdateState({ ...state, phase: 'rolled_back', cause }),
    paths.dir,
  );
  await afterStep('recorded');
}

/** The update is over (reported): its state goes; the previous binary stays for an operator. */
export async function clearState(paths: InstallPaths): Promise<void> {
  await removeIfThere(paths.state);
  await fsyncPath(paths.dir);
}
