/**
 * The agent's connection status, as a discriminated union: logged on every change, and read by
 * health reporting (systemd STATUS=, the local SDK socket's connectionstatus).
 */
export type ConnectionStatus =
  | { kind: 'idle' }
  | { kind: 'connecting'; attempt: number; url: string }
  | { kind: 'handshaking'; url: string }
  | { kind: 'online'; since: string; url: string }
  | { kind: 'backoff'; attempt: number; delayMs: number; reason: string }
  | { kind: 'stopping' }
  | { kind: 'stopped' };

export function describeStatus(status: ConnectionStatus): string {
  switch (status.kind) {
    case 'idle':
      return 'idle';
    case 'connecting':
      return `connecting to ${status.url} (attempt ${status.attempt + 1})`;
    case 'handshaking':
      return `connected to ${status.url}, waiting for welcome`;
    case 'online':
      return `online since ${status.since}`;
    case 'backoff':
      return `retrying in ${status.delayMs} ms after ${status.reason}`;
    case 'stopping':
      return 'stopping';
    case 'stopped':
      return 'stopped';
  }
}
