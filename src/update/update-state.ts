import { VERSION_PATTERN } from '../protocol/update-artifact.js';

/**
 * The state of an update between the swap and its verdict, in a small file beside the binary.
 * Key=value lines, not JSON, because the update guard (a POSIX sh script run before every
 * start, systemd/iottly-agent-update-guard) reads and rewrites it with sed. Every value is
 * restricted to characters that need no quoting there.
 *
 *   trial        the new binary is in place (or about to be); it has until `deadline` to come
 *                online, and `starts` counts the guard's starts of it
 *   rolled_back  the previous binary is back; the next agent to run reports `cause`
 */
export type UpdatePhase = 'trial' | 'rolled_back';

/** Why an update was rolled back (`update_result.cause`). */
export type RollbackCause = 'not_online' | 'crashed';

export interface UpdateState {
  phase: UpdatePhase;
  from: string;
  to: string;
  /** Seconds since the epoch (what `date +%s` in the guard compares with). */
  deadline: number;
  /** Starts the guard has let through in this trial. */
  starts: number;
  /** Failed starts after which the guard restores the previous binary. */
  maxStarts: number;
  cause?: RollbackCause;
}

const CAUSES: readonly string[] = ['not_online', 'crashed'];

export function serializeUpdateState(state: UpdateState): string {
  return [
    `phase=${state.phase}`,
    `from=${state.from}`,
    `to=${state.to}`,
    `deadline=${state.deadline}`,
    `starts=${state.starts}`,
    `max_starts=${state.maxStarts}`,
    `cause=${state.cause ?? ''}`,
    '',
  ].join('\n');
}

/** The state, or null when the text is not one (a damaged file is treated as no update). */
export function parseUpdateState(text: string): UpdateState | null {
  if (text.length > 4096) return null;
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const phase = fields.get('phase');
  const from = fields.get('from') ?? '';
  const to = fields.get('to') ?? '';
  const deadline = Number(fields.get('deadline'));
  const starts = Number(fields.get('starts'));
  const maxStarts = Number(fields.get('max_starts'));
  const cause = fields.get('cause') ?? '';
  if (phase !== 'trial' && phase !== 'rolled_back') return null;
  if (!VERSION_PATTERN.test(from) || !VERSION_PATTERN.test(to)) return null;
  if (![deadline, starts, maxStarts].every((n) => Number.isSafeInteger(n) && n >= 0)) return null;
  if (cause !== '' && !CAUSES.includes(cause)) return null;
  return {
    phase,
    from,
    to,
    deadline,
    starts,
    maxStarts,
    ...(cause === '' ? {} : { cause: cause as RollbackCause }),
  };
}
