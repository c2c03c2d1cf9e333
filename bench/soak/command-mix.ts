/**
 * The commands the soak sends, in turn, and what each must come back with. The mix touches every
 * way a command ends: success, a streamed and a buffered output burst, a failing exit code, a
 * cancel, a timeout, a program that does not exist, and a background job the agent must end
 * when the command's main process exits.
 */
export interface CommandOutcome {
  /** `command_done`'s payload, or null when the answer was an `error` frame. */
  done: Record<string, unknown> | null;
  /** The `error` frame's payload, or null. */
  error: Record<string, unknown> | null;
  /** stdout as received (streamed chunks or the final buffered output). */
  stdout: string;
}

export interface SoakCommand {
  name: string;
  payload: Record<string, unknown>;
  /** Send `command_cancel` this long after the command. */
  cancelAfterMs?: number;
  /** Null when the outcome is right, else what was wrong. */
  check(outcome: CommandOutcome): string | null;
}

export const SEQ_LINES = 2_000;
const SEQ_OUTPUT = Array.from({ length: SEQ_LINES }, (_, i) => `${i + 1}\n`).join('');

function exitedWith(code: number, extra: Record<string, unknown> = {}) {
  return ({ done, error }: CommandOutcome): string | null => {
    if (!done) return `expected command_done, got error ${JSON.stringify(error)}`;
    if (done.exit_code !== code) return `expected exit_code ${code}, got ${String(done.exit_code)}`;
    for (const [key, value] of Object.entries(extra)) {
      if (done[key] !== value) return `expected ${key} ${String(value)}, got ${String(done[key])}`;
    }
    return null;
  };
}

function printedSeq(outcome: CommandOutcome): string | null {
  const exit = exitedWith(0)(outcome);
  if (exit) return exit;
  return outcome.stdout === SEQ_OUTPUT
    ? null
    : `output differs: ${outcome.stdout.length} bytes, expected ${SEQ_OUTPUT.length}`;
}

export const COMMAND_MIX: readonly SoakCommand[] = [
  { name: 'true', payload: { command: 'true' }, check: exitedWith(0) },
  {
    name: `seq 1 ${SEQ_LINES} (streamed)`,
    payload: { argv: ['seq', '1', String(SEQ_LINES)], stream_output: true },
    check: printedSeq,
  },
  { name: 'exit 3', payload: { command: 'exit 3' }, check: exitedWith(3) },
  {
    name: `seq 1 ${SEQ_LINES} (buffered)`,
    payload: { argv: ['seq', '1', String(SEQ_LINES)] },
    check: printedSeq,
  },
  {
    name: 'sleep 30, cancelled',
    payload: { command: 'sleep 30' },
    cancelAfterMs: 300,
    check: ({ done, error }) =>
      done?.cancelled === true ? null : `expected cancelled, got ${JSON.stringify(done ?? error)}`,
  },
  {
    name: 'sleep 30, timeout 1 s',
    payload: { command: 'sleep 30', timeout_s: 1 },
    check: ({ done, error }) =>
      done?.timed_out === true ? null : `expected timed_out, got ${JSON.stringify(done ?? error)}`,
  },
  {
    name: 'no such program',
    payload: { argv: ['/nonexistent/iottly-soak'] },
    check: ({ error, done }) =>
      error?.code === 'command_failed'
        ? null
        : `expected error command_failed, got ${JSON.stringify(error ?? done)}`,
  },
  {
    name: 'background job left behind',
    payload: { command: 'sleep 30 & echo started' },
    check: exitedWith(0),
  },
];
