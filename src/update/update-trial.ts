import type { RollbackCause, UpdateState } from './update-state.js';

/**
 * What a starting agent makes of the update state it finds (pure):
 *   none     no update to judge
 *   trial    this build is the one on trial: it has `remainingS` to come online
 *   failed   the trial is over and this build is not its `to`: the previous build is running
 *            again (restored by the agent or the guard, or the swap never reached its rename),
 *            so report the failure
 * A trial whose deadline has passed but which names this build gets no time: it rolls back at
 * once (the guard would have at its next start).
 */
export type TrialVerdict =
  | { kind: 'none' }
  | { kind: 'trial'; state: UpdateState; remainingS: number }
  | { kind: 'failed'; state: UpdateState; cause: RollbackCause; message: string };

export function judgeAtStart(
  state: UpdateState | null,
  running: string,
  nowS: number,
): TrialVerdict {
  if (state === null) return { kind: 'none' };
  if (state.phase === 'trial' && state.to === running)
    return { kind: 'trial', state, remainingS: Math.max(0, Math.ceil(state.deadline - nowS)) };
  const cause = state.cause ?? 'crashed';
  const message =
    state.phase === 'rolled_back'
      ? cause === 'not_online'
        ? `${state.to} did not come online in time`
        : `${state.to} exited at start ${state.starts} times`
      : `${state.to} was not running when ${running} started (it exited, or the swap was cut short)`;
  return { kind: 'failed', state, cause, message };
}
