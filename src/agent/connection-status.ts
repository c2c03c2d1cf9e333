/**
 * The agent's connection status, as a discriminated union: logged on every change, and read by
 * health reporting (systemd STATUS=, the local SDK socket's connectionstatus).
 */
export type ConnectionStatus =
  | { kind: 'idle' }
  /** `attempt`: the dial's number since the last welcome, from 1. */
  | { kind: 'connecting'; attempt: number; url: string }
  | { kind: 'handshaking'; url: string }
  | { kind: 'online'; since: string; url: string }
  /** `attempt`: the number the next dial will have. */
  | { kind: 'backoff'; attempt: number; delayMs: number; reason: string }
  | { kind: 'stopping' }
  | { kind: 'stopped' };

export function describeStatus(status: ConnectionStatus): string {
  switch (status.kind) {
    case 'idle':
      return 'idle';
    case 'connecting':
      return `connecting to ${status.url} (attempt ${status.attempt})`;
    case 'handshaking':
      return `connected to ${status.url}, waiting for welcome`;
    case 'online':
      return `online since ${status.since}`;
    case 'backoff':
      return `retrying in ${status.delayMs} ms (attempt ${status.attempt}) after ${status.reason}`;
    case 'stopping':
      return 'stopping';
    case 'stopped':
      return 'stopped';
  }
}

/**
 * Passes a value on only when it differs from the last one passed on: the outbox figures ride
 * along with a status line when they say something new, not on every retry of a dead link.
 */
export class ChangedOnly<T> {
  #last: string | undefined;

  take(value: T): T | undefined {
    const text = JSON.stringify(value);
    if (text === this.#last) return undefined;
    this.#last = text;
    return value;
  }
}
