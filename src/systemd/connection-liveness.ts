import type { ConnectionStatus } from '../agent/connection-status.js';

/**
 * Is the connection loop alive, judging by how long it has sat in its current state? Every state
 * but `online` is bounded: a dial ends within the dial timeout, a back-off within its delay. One
 * that outstays its bound plus a grace means the loop is wedged, and the watchdog should let
 * systemd restart the agent. `online` is bounded by the heartbeat, which terminates a dead link.
 * (Liveness is this question, whether the process still makes progress, asked for a supervisor;
 * whether a link's peer still answers is the heartbeat's.)
 *
 * Returns null when alive, or the reason it is not.
 */
export interface LivenessLimits {
  dialTimeoutMs: number;
  /** Slack on top of each bound, for timers that fire a little late on a loaded device. */
  graceMs: number;
}

export function connectionLoopProblem(
  status: ConnectionStatus,
  inStateForMs: number,
  limits: LivenessLimits,
): string | null {
  const overdue = (boundMs: number): string | null =>
    inStateForMs > boundMs + limits.graceMs
      ? `connection ${status.kind} for ${Math.round(inStateForMs)} ms (bound ${boundMs} ms)`
      : null;
  switch (status.kind) {
    case 'online':
      return null;
    case 'connecting':
    case 'handshaking':
      return overdue(limits.dialTimeoutMs);
    case 'backoff':
      return overdue(status.delayMs);
    case 'idle':
    case 'stopping':
    case 'stopped':
      return `connection loop is not running (${status.kind})`;
  }
}

/** The default slack: generous, since a missed pet costs a restart. */
export const DEFAULT_LIVENESS_GRACE_MS = 10_000;
