import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import {
  ByteFd,
  ByteKind,
  binaryData,
  decodeByteFrame,
  encodeByteFrame,
} from '../protocol/byte-frame.js';
import { decodeJson } from '../protocol/bounded-json.js';
import { DEVICE_ID_PATTERN } from '../protocol/fields.js';
import { MAX_FRAME_BYTES } from '../protocol/message.js';
import { isPlainObject } from '../protocol/schema.js';
import { EscapeFilter } from './escape-filter.js';
import { ExitCode } from './exit-codes.js';
import { hubStreamUrl } from './stream-url.js';
import { UsageError } from './usage-error.js';

/**
 * `iottly-agent shell DEVICE [-- CMD [ARGS…]]`: an interactive terminal on a device through the
 * hub's `/v1/stream`, as `ssh HOST` gives one. The local terminal is put in raw mode (and put
 * back on every way out), its size goes with `session_open` and with every SIGWINCH, keystrokes
 * and the remote terminal's output are binary frames (docs/protocol.md, "Shell sessions"), and
 * the exit status is the remote one (128 + the signal's number when it was killed). `~.` after a
 * newline drops the session, as in ssh.
 *
 * A local stdout that does not take more stops this process reading the WebSocket; the hub then
 * holds the device back and the agent stops reading the terminal.
 *
 * Loaded only by `iottly-agent shell` (src/cli.ts imports it lazily): the agent never loads it.
 */
/** The exit status when the session could not run or was dropped (as ssh's 255, and exec's). */
export const SHELL_FAILED = ExitCode.execFailed;
const STREAM = 1;
const REQUEST_ID = 'shell';

export interface ShellArgs {
  hubUrl: string;
  apiKey: string;
  deviceId: string;
  /** A command to run in the terminal instead of the login shell. */
  argv: string[] | undefined;
}

export function parseShellArgs(argv: string[], env: Record<string, string | undefined>): ShellArgs {
  const dashes = argv.indexOf('--');
  const own = dashes < 0 ? argv : argv.slice(0, dashes);
  const command = dashes < 0 ? undefined : argv.slice(dashes + 1);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(own);
  } catch (err) {
    throw new UsageError(`shell: ${(err as Error).message}`);
  }
  const { values, positionals } = parsed;
  const [deviceId, ...extra] = positionals;
  if (deviceId === undefined || extra.length > 0)
    throw new UsageError('shell: expected exactly one DEVICE (a command goes after --)');
  if (!DEVICE_ID_PATTERN.test(deviceId))
    throw new UsageError(`shell: "${deviceId}" is not a device id`);
  if (command !== undefined && (command.length === 0 || command[0] === ''))
    throw new UsageError('shell: expected a command after --');
  const hubUrl = values.hub ?? env.IOTTLY_HUB_URL;
  if (!hubUrl) throw new UsageError('shell: the hub is needed: --hub URL or IOTTLY_HUB_URL');
  const apiKey = values['api-key'] ?? env.IOTTLY_API_KEY;
  if (!apiKey) throw new UsageError('shell: an API key is needed: --api-key KEY or IOTTLY_API_KEY');
  return { hubUrl: streamUrl(hubUrl), apiKey, deviceId, argv: command };
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: { hub: { type: 'string' }, 'api-key': { type: 'string' } },
  });
}

/** The hub's `/v1/stream` WebSocket URL (see stream-url.ts). */
export function streamUrl(hub: string): string {
  return hubStreamUrl(hub, 'shell');
}

/** The local terminal, injected: tests and the bench drive it through a real PTY or pipes. */
export interface ShellIo {
  stdin: NodeJS.ReadableStream & { setRawMode?: (raw: boolean) => unknown; isTTY?: boolean };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** The local window's size (a default when stdout is not a terminal). */
  size(): { rows: number; cols: number };
  /** Runs `listener` on every SIGWINCH; returns its remover. */
  onResize(listener: () => void): () => void;
  /** TERM of the local terminal, passed to the remote one. */
  term: string | undefined;
}

/** Runs the session; resolves with this process's exit code. */
export function runShell(args: ShellArgs, io: ShellIo): Promise<number> {
  return new Promise<number>((resolve) => {
    const socket = new WebSocket(args.hubUrl, {
      headers: { Authorization: `Bearer ${args.apiKey}` },
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
    });
    const escapes = new EscapeFilter();
    const raw = io.stdin.isTTY === true && typeof io.stdin.setRawMode === 'function';
    let settled = false;
    let pendingDrains = 0;

    const restoreTerminal = (): void => {
      if (raw) io.stdin.setRawMode?.(false);
    };
    // Whatever ends this process, the operator's terminal is left as it was found.
    process.once('exit', restoreTerminal);
    const stopResize = io.onResize(() => {
      const { rows, cols } = io.size();
      send({ type: 'session_resize', request_id: REQUEST_ID, payload: { rows, cols } });
    });

    const finish = (code: number, message?: string): void => {
      if (settled) return;
      settled = true;
      stopResize();
      io.stdin.removeListener('data', onKeys);
      io.stdin.pause();
      restoreTerminal();
      process.removeListener('exit', restoreTerminal);
      if (message) io.stderr.write(`\r\niottly-agent shell: ${message}\r\n`);
      socket.terminate();
      resolve(code);
    };

    const send = (message: Record<string, unknown>): void => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    };

    const onKeys = (chunk: Buffer | string): void => {
      const { send: bytes, drop } = escapes.push(Buffer.from(chunk));
      if (bytes.length > 0 && socket.readyState === WebSocket.OPEN)
        socket.send(
          encodeByteFrame({
            kind: ByteKind.data,
            stream: STREAM,
            fd: ByteFd.stdin,
            seq: 0,
            data: bytes,
          }),
        );
      if (drop) {
        send({ type: 'session_close', request_id: REQUEST_ID, payload: {} });
        finish(SHELL_FAILED, 'session dropped (~.)');
      }
    };

    socket.on('open', () => {
      const { rows, cols } = io.size();
      const payload: Record<string, unknown> = {
        device_id: args.deviceId,
        rows,
        cols,
        stream: STREAM,
      };
      if (args.argv) payload.argv = args.argv;
      if (io.term) payload.env = { TERM: io.term };
      send({ type: 'session_open', request_id: REQUEST_ID, payload });
      if (raw) io.stdin.setRawMode?.(true);
      io.stdin.on('data', onKeys);
      io.stdin.resume();
    });

    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        const decoded = decodeByteFrame(binaryData(data as Buffer));
        if (!decoded.ok || decoded.frame.stream !== STREAM || decoded.frame.kind !== ByteKind.data)
          return;
        const { data: bytes } = decoded.frame;
        if (!io.stdout.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length))) {
          // Stop reading the hub until the terminal has taken this.
          if (pendingDrains++ === 0) socket.pause();
          io.stdout.once('drain', () => {
            if (--pendingDrains === 0) socket.resume();
          });
        }
        return;
      }
      const text = (data as Buffer).toString('utf8');
      const parsed = decodeJson(text, { maxBytes: MAX_FRAME_BYTES });
      if (!parsed.ok || !isPlainObject(parsed.value)) return;
      const frame = parsed.value;
      if (frame.request_id !== REQUEST_ID || !isPlainObject(frame.payload)) return;
      const payload = frame.payload;
      if (frame.type === 'session_output' && typeof payload.data === 'string') {
        io.stdout.write(Buffer.from(payload.data, 'base64'));
      } else if (frame.type === 'session_done') {
        finish(...doneStatus(payload));
      }
    });

    socket.on('unexpected-response', (_req, res) => {
      res.resume();
      finish(SHELL_FAILED, `the hub refused the connection (HTTP ${res.statusCode})`);
    });
    socket.on('error', (err) => finish(SHELL_FAILED, `cannot reach the hub: ${err.message}`));
    socket.on('close', (code) => finish(SHELL_FAILED, `the hub closed the connection (${code})`));
  });
}

/** This process's exit code (and a line for the operator) from a `session_done` payload. */
export function doneStatus(payload: Record<string, unknown>): [number, string?] {
  const error = payload.error;
  if (isPlainObject(error))
    return [SHELL_FAILED, `${String(error.code)}: ${String(error.message ?? '')}`];
  if (payload.idle === true) return [SHELL_FAILED, 'session ended: idle for too long'];
  if (typeof payload.exit_code === 'number') return [payload.exit_code];
  const signal = payload.signal;
  if (typeof signal === 'string' && signal in constants.signals)
    return [128 + constants.signals[signal as keyof typeof constants.signals]];
  return [SHELL_FAILED, 'session ended'];
}
