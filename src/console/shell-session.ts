import { ByteFd, ByteKind, type ByteFrame } from '../protocol/byte-frame.js';
import type { ParsedFrame } from '../protocol/parse.js';
import { formatDuration } from './command-output.js';

/**
 * The console's side of one shell session at a time (docs/protocol.md, "Shell sessions"):
 *
 *     none ─open()─▶ opening ─session_opened─▶ open ─session_done / error─▶ none (ended)
 *                      └──────────────────────────┴─connectionLost()─────▶ none (ended)
 *     opening, open ─close()─▶ none (session_close sent; its replies are no longer this one's)
 *
 * `session_open` names a stream number of its own, so keystrokes and output travel as binary
 * frames both ways (the hub turns them into base64 JSON for a device that does not speak
 * bytes); base64 `session_output` is still understood. Frames of a session this one no longer
 * is (a late reply after a device switch) are ignored. Exactly one `ended` per `open`.
 */
export interface ShellSink {
  /** The terminal's output, raw bytes (UTF-8 decoding, escape sequences: the terminal's job). */
  output(bytes: Uint8Array): void;
  opened(info: { tty: string | undefined }): void;
  /** The session is over; `text` says how (`exit 0 · 1.2 s`, `shell_denied: …`). */
  ended(text: string, ok: boolean): void;
}

export interface ShellTransport {
  send(message: { type: string; payload: Record<string, unknown>; request_id?: string }): boolean;
  sendBytes(frame: ByteFrame): boolean;
}

/**
 * Most keystroke bytes in one binary frame: a large paste goes as several frames, each far
 * under the 1 MiB frame limit, so no single frame holds the link for long.
 */
export const MAX_INPUT_FRAME_BYTES = 64 * 1024;

type SessionState =
  | { kind: 'none' }
  | { kind: 'opening' | 'open'; requestId: string; stream: number; error?: string };

export class ShellSession {
  readonly #transport: ShellTransport;
  readonly #sink: ShellSink;
  readonly #nextId: () => number;
  #state: SessionState = { kind: 'none' };
  readonly #encoder = new TextEncoder();

  constructor(transport: ShellTransport, sink: ShellSink, nextId: () => number) {
    this.#transport = transport;
    this.#sink = sink;
    this.#nextId = nextId;
  }

  /** True from open() until the session's end. */
  get active(): boolean {
    return this.#state.kind !== 'none';
  }

  /** Opens a login shell on the device; false when nothing was sent (not connected, or busy). */
  open(deviceId: string, rows: number, cols: number): boolean {
    if (this.#state.kind !== 'none') return false;
    const id = this.#nextId();
    const requestId = `shell-${id}`;
    const sent = this.#transport.send({
      type: 'session_open',
      request_id: requestId,
      payload: { device_id: deviceId, rows, cols, stream: id },
    });
    if (sent) this.#state = { kind: 'opening', requestId, stream: id };
    return sent;
  }

  /** Keystrokes (xterm's onData, a paste) as UTF-8 bytes. */
  type(text: string): void {
    this.input(this.#encoder.encode(text));
  }

  /** Bytes as they are (xterm's onBinary: mouse reports that are not UTF-8). */
  input(bytes: Uint8Array): void {
    const s = this.#state;
    if (s.kind === 'none') return;
    for (let at = 0; at < bytes.length; at += MAX_INPUT_FRAME_BYTES) {
      const data = bytes.subarray(at, at + MAX_INPUT_FRAME_BYTES);
      if (
        !this.#transport.sendBytes({
          kind: ByteKind.data,
          stream: s.stream,
          fd: ByteFd.stdin,
          seq: 0,
          data,
        })
      )
        return; // not connected: the session ends with the connection
    }
  }

  resize(rows: number, cols: number): void {
    const s = this.#state;
    if (s.kind === 'none') return;
    this.#transport.send({
      type: 'session_resize',
      request_id: s.requestId,
      payload: { rows, cols },
    });
  }

  /**
   * Ends the session on the device (every process of it) and forgets it at once: the caller is
   * replacing it (another device, a new session), so no `ended` follows.
   */
  close(): void {
    const s = this.#state;
    if (s.kind === 'none') return;
    this.#state = { kind: 'none' };
    this.#transport.send({ type: 'session_close', request_id: s.requestId, payload: {} });
  }

  /** The stream connection dropped: the hub has ended the session on the device. */
  connectionLost(): void {
    if (this.#state.kind !== 'none') this.#end('connection to the hub lost', false);
  }

  onBytes(frame: ByteFrame): void {
    const s = this.#state;
    if (s.kind === 'none' || frame.stream !== s.stream || frame.kind !== ByteKind.data) return;
    this.#sink.output(frame.data);
  }

  /** Takes the frames of the current session; returns false for anyone else's. */
  onFrame(frame: ParsedFrame): boolean {
    const s = this.#state;
    if (s.kind === 'none' || frame.request_id !== s.requestId) return false;
    const payload = frame.payload as Record<string, unknown>;
    switch (frame.type) {
      case 'session_opened':
        if (s.kind === 'opening') this.#state = { ...s, kind: 'open' };
        this.#sink.opened({ tty: typeof payload['tty'] === 'string' ? payload['tty'] : undefined });
        return true;
      case 'session_output':
        this.#sink.output(base64Bytes(payload['data'] as string));
        return true;
      case 'error': {
        // The hub follows it with a session_done, which ends the session.
        const message = typeof payload['message'] === 'string' ? `: ${payload['message']}` : '';
        s.error = `${String(payload['code'])}${message}`;
        return true;
      }
      case 'session_done': {
        const { text, ok } = describeSessionEnd(payload, s.error);
        this.#end(text, ok);
        return true;
      }
      default:
        return false;
    }
  }

  #end(text: string, ok: boolean): void {
    this.#state = { kind: 'none' };
    this.#sink.ended(text, ok);
  }
}

/** How a session ended, in one line: `exit 0 · 3.1 s`, `SIGHUP · closed`, `shell_denied: …`. */
export function describeSessionEnd(
  done: Record<string, unknown>,
  error: string | undefined,
): { text: string; ok: boolean } {
  if (error !== undefined) return { text: error, ok: false };
  const parts: string[] = [];
  if (done['idle'] === true) parts.push('idle for too long');
  if (done['closed'] === true) parts.push('closed');
  if (typeof done['exit_code'] === 'number') parts.push(`exit ${done['exit_code']}`);
  if (typeof done['signal'] === 'string') parts.push(done['signal']);
  if (typeof done['duration_ms'] === 'number') parts.push(formatDuration(done['duration_ms']));
  return { text: parts.join(' · ') || 'ended', ok: done['exit_code'] === 0 };
}

function base64Bytes(text: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(text); // the validator checked the alphabet, not the length
  } catch {
    return new TextEncoder().encode('\uFFFD');
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
