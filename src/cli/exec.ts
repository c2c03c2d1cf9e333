import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import {
  ByteFd,
  ByteKind,
  MAX_BYTE_FRAME_DATA,
  binaryData,
  decodeByteFrame,
  encodeByteFrame,
} from '../protocol/byte-frame.js';
import { decodeJson } from '../protocol/bounded-json.js';
import { DEVICE_ID_PATTERN } from '../protocol/fields.js';
import { MAX_FRAME_BYTES } from '../protocol/message.js';
import { isPlainObject } from '../protocol/schema.js';
import { ExitCode } from './exit-codes.js';
import { hubStreamUrl } from './stream-url.js';
import { UsageError } from './usage-error.js';

const EXEC_FAILED = ExitCode.execFailed;

/**
 * `iottly-agent exec DEVICE -- CMD [ARGS…]`: runs argv on a device through the hub's
 * `/v1/stream`, as `ssh HOST CMD` would: the remote stdout and stderr as raw bytes on the local
 * ones, the local stdin forwarded (its end passed on), and the remote exit status as its own
 * (128 + the signal's number when it was killed; 255, ExitCode.execFailed, when the hub or the device could
 * not run it). Output and input are binary frames (docs/protocol.md, raw bytes).
 *
 * Flow control both ways, so nothing grows in memory:
 * - a local stdout that does not take more stops this process reading the WebSocket; the hub then
 *   holds the device back (push-back) and the agent stops reading the command's pipes;
 * - stdin is read only while less than STDIN_WINDOW_BYTES of it is unconsumed by the remote
 *   command (the agent reports `input_consumed`) and the socket is not backed up.
 *
 * Loaded only by `iottly-agent exec` (src/cli.ts imports it lazily): the agent never loads it.
 */
export const STDIN_WINDOW_BYTES = 4 * 1024 * 1024;
const SOCKET_HIGH_WATER_BYTES = 1024 * 1024;
const STREAM = 1;
const REQUEST_ID = 'exec';

export interface ExecArgs {
  hubUrl: string;
  apiKey: string;
  deviceId: string;
  argv: string[];
  stdin: boolean;
  timeoutS: number | undefined;
}

export function parseExecArgs(argv: string[], env: Record<string, string | undefined>): ExecArgs {
  const dashes = argv.indexOf('--');
  if (dashes < 0) throw new UsageError('exec: expected DEVICE -- CMD [ARGS…] (the -- is required)');
  const { values, positionals } = (() => {
    try {
      return parseArgs({
        args: argv.slice(0, dashes),
        allowPositionals: true,
        options: {
          hub: { type: 'string' },
          'api-key': { type: 'string' },
          'no-stdin': { type: 'boolean', short: 'n' },
          timeout: { type: 'string' },
        },
      });
    } catch (err) {
      throw new UsageError(`exec: ${(err as Error).message}`);
    }
  })();
  const command = argv.slice(dashes + 1);
  const [deviceId, ...extra] = positionals;
  if (deviceId === undefined || extra.length > 0)
    throw new UsageError('exec: expected exactly one DEVICE before --');
  if (!DEVICE_ID_PATTERN.test(deviceId))
    throw new UsageError(`exec: "${deviceId}" is not a device id`);
  if (command.length === 0 || command[0] === '')
    throw new UsageError('exec: expected a command after --');
  const hubUrl = values.hub ?? env.IOTTLY_HUB_URL;
  if (!hubUrl) throw new UsageError('exec: the hub is needed: --hub URL or IOTTLY_HUB_URL');
  const apiKey = values['api-key'] ?? env.IOTTLY_API_KEY;
  if (!apiKey) throw new UsageError('exec: an API key is needed: --api-key KEY or IOTTLY_API_KEY');
  let timeoutS: number | undefined;
  if (values.timeout !== undefined) {
    timeoutS = Number(values.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0)
      throw new UsageError(`exec: --timeout expects seconds, got "${values.timeout}"`);
  }
  return {
    hubUrl: streamUrl(hubUrl),
    apiKey,
    deviceId,
    argv: command,
    stdin: values['no-stdin'] !== true,
    timeoutS,
  };
}

/** The hub's `/v1/stream` WebSocket URL (see stream-url.ts). */
export function streamUrl(hub: string): string {
  return hubStreamUrl(hub, 'exec');
}

export interface ExecIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** Ctrl-C: the first cancels the remote command, a second gives up at once. */
  onInterrupt: (listener: () => void) => () => void;
}

/** Runs the command; resolves with this process's exit code. */
export function runExec(args: ExecArgs, io: ExecIo): Promise<number> {
  return new Promise<number>((resolve) => {
    const socket = new WebSocket(args.hubUrl, {
      headers: { Authorization: `Bearer ${args.apiKey}` },
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      // Stdin goes unmasked in effect, as the agent's output does (src/agent/connection.ts).
      generateMask: (mask: Buffer) => mask.fill(0),
    });
    let settled = false;
    let sent = 0;
    let consumed = 0;
    let stdinDone = !args.stdin;
    let stdinPaused = false;
    let pendingDrains = 0;
    let interrupts = 0;
    const stopInterrupt = io.onInterrupt(() => {
      interrupts++;
      if (interrupts > 1) finish(130, 'interrupted');
      else
        send({
          type: 'command_cancel',
          request_id: REQUEST_ID,
          payload: { request_id: REQUEST_ID },
        });
    });

    const send = (data: string | Uint8Array | object): void => {
      if (socket.readyState !== WebSocket.OPEN) return;
      const payload =
        typeof data === 'string' || data instanceof Uint8Array ? data : JSON.stringify(data);
      socket.send(payload, () => pumpStdin());
    };

    const finish = (code: number, message?: string): void => {
      if (settled) return;
      settled = true;
      stopInterrupt();
      io.stdin.off('data', onStdinData);
      io.stdin.pause();
      if (message) io.stderr.write(`iottly-agent exec: ${message}\n`);
      // Everything written to stdout and stderr leaves before the exit code is given.
      let left = 2;
      const flushed = (): void => {
        if (--left > 0) return;
        socket.removeAllListeners('close');
        socket.on('close', () => {});
        if (socket.readyState === WebSocket.OPEN) socket.close(1000, 'done');
        else socket.terminate();
        resolve(code);
      };
      io.stdout.write('', flushed);
      io.stderr.write('', flushed);
    };

    // Reads stdin while the window and the socket allow.
    const pumpStdin = (): void => {
      if (stdinDone || settled) return;
      const blocked =
        sent - consumed >= STDIN_WINDOW_BYTES || socket.bufferedAmount >= SOCKET_HIGH_WATER_BYTES;
      if (blocked && !stdinPaused) {
        stdinPaused = true;
        io.stdin.pause();
      } else if (!blocked && stdinPaused) {
        stdinPaused = false;
        io.stdin.resume();
      }
    };
    const onStdinData = (chunk: Buffer): void => {
      for (let at = 0; at < chunk.length; at += MAX_BYTE_FRAME_DATA) {
        const data = chunk.subarray(at, at + MAX_BYTE_FRAME_DATA);
        sent += data.length;
        send(
          encodeByteFrame({ kind: ByteKind.data, stream: STREAM, fd: ByteFd.stdin, seq: 0, data }),
        );
      }
      pumpStdin();
    };

    // A local stdout or stderr that does not take more stops the socket being read.
    const write = (out: Writable, data: Uint8Array): void => {
      if (out.write(data)) return;
      pendingDrains++;
      if (pendingDrains === 1) socket.pause();
      out.once('drain', () => {
        pendingDrains--;
        if (pendingDrains === 0) socket.resume();
      });
    };

    socket.on('open', () => {
      const payload: Record<string, unknown> = {
        device_id: args.deviceId,
        argv: args.argv,
        stream_output: true,
        stdin: args.stdin,
        stream: STREAM,
      };
      if (args.timeoutS !== undefined) payload.timeout_s = args.timeoutS;
      send({ type: 'command', request_id: REQUEST_ID, payload });
      if (!args.stdin) return;
      io.stdin.on('data', onStdinData);
      io.stdin.once('end', () => {
        stdinDone = true;
        send(
          encodeByteFrame({
            kind: ByteKind.eof,
            stream: STREAM,
            fd: ByteFd.stdin,
            seq: 0,
            data: new Uint8Array(0),
          }),
        );
      });
      io.stdin.once('error', () => (stdinDone = true));
      pumpStdin();
    });

    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        const result = decodeByteFrame(binaryData(data as Buffer | ArrayBuffer | Buffer[]));
        if (!result.ok || result.frame.stream !== STREAM || result.frame.kind !== ByteKind.data)
          return;
        write(result.frame.fd === ByteFd.stderr ? io.stderr : io.stdout, result.frame.data);
        return;
      }
      const decoded = decodeJson(String(data), { maxBytes: MAX_FRAME_BYTES });
      if (!decoded.ok || !isPlainObject(decoded.value)) return;
      const frame = decoded.value;
      if (frame.request_id !== REQUEST_ID || !isPlainObject(frame.payload)) return;
      const payload = frame.payload;
      if (frame.type === 'input_consumed' && typeof payload.bytes === 'number') {
        consumed = Math.max(consumed, payload.bytes);
        pumpStdin();
      } else if (frame.type === 'command_done') {
        const ending = exitStatus(payload);
        finish(ending.code, ending.message);
      }
    });

    socket.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      finish(
        EXEC_FAILED,
        status === 401 || status === 403
          ? `the hub refused the API key (HTTP ${status})`
          : `the hub answered HTTP ${status} at ${args.hubUrl}`,
      );
      socket.terminate();
    });
    socket.on('error', (err) =>
      finish(EXEC_FAILED, `cannot reach the hub at ${args.hubUrl}: ${err.message}`),
    );
    socket.on('close', (code, reason) =>
      finish(
        EXEC_FAILED,
        `the hub closed the connection before the command ended (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`,
      ),
    );
  });
}

/** This process's exit code (and a message for stderr) from the remote `command_done`. */
export function exitStatus(done: Record<string, unknown>): { code: number; message?: string } {
  const error = done.error;
  if (isPlainObject(error))
    return { code: EXEC_FAILED, message: `${String(error.code)}: ${String(error.message)}` };
  const suffix =
    done.timed_out === true
      ? ' (timed out on the device)'
      : done.truncated === true
        ? ' (output cap reached on the device: commands.maxOutputBytes)'
        : '';
  if (typeof done.exit_code === 'number' && suffix === '') return { code: done.exit_code & 0xff };
  if (typeof done.exit_code === 'number')
    return { code: done.exit_code & 0xff, message: `command ended${suffix}` };
  const signal = typeof done.signal === 'string' ? done.signal : undefined;
  const number = signal ? (constants.signals as Record<string, number>)[signal] : undefined;
  if (number !== undefined)
    return {
      code: 128 + number,
      ...(suffix ? { message: `command killed by ${signal}${suffix}` } : {}),
    };
  return { code: EXEC_FAILED, message: 'the device reported no exit status' };
}
