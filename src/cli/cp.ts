import { createHash, type Hash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { chmod, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { MAX_BYTE_FRAME_DATA } from '../protocol/byte-frame.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { DEVICE_ID_PATTERN } from '../protocol/fields.js';
import { clientPartName, MAX_FILE_MODE } from '../protocol/file-sessions.js';
import { isPlainObject } from '../protocol/schema.js';
import { SESSION_WINDOW_BYTES } from '../protocol/sessions.js';
import { CP_RETRIES } from './cp-help.js';
import { ExitCode } from './exit-codes.js';
import { StreamSession, type SessionEnd } from './stream-session.js';
import { hubStreamUrl } from './stream-url.js';
import { UsageError } from './usage-error.js';

/**
 * `iottly-agent cp LOCAL DEVICE:PATH` and `cp DEVICE:PATH LOCAL`: one file through the hub's
 * `/v1/stream` as a session of kind `file_put` or `file_get` (docs/protocol.md, "File
 * transfers"), bytes in binary frames under the session window both ways:
 * - upload: the local file is hashed first (the sha256 goes in `session_open`), then sent from
 *   the device's `offset` (what its part already holds) with at most SESSION_WINDOW_BYTES not
 *   yet reported by `input_consumed`;
 * - download: written to `.<name>.iottly-part` beside the target, acknowledged with
 *   `session_ack` as it is written, hashed as it comes (a part from an earlier run is hashed
 *   first and continued: its size is the `offset`), renamed into place once the sha256 in
 *   `session_done` matches.
 * A dropped hub connection is retried with back-off, resuming each time.
 *
 * Loaded only by `iottly-agent cp` (src/cli.ts imports it lazily): the agent never loads it.
 */
export interface CpArgs {
  hubUrl: string;
  apiKey: string;
  deviceId: string;
  remotePath: string;
  localPath: string;
  direction: 'upload' | 'download';
  mode: number | undefined;
  owner: string | undefined;
}

export interface CpIo {
  stderr: NodeJS.WritableStream;
  /** Waits between attempts (tests pass a short one). */
  delay?: (ms: number) => Promise<void>;
  retries?: number;
}

/** How long to wait before retry `attempt` (1, 2, …): 0.5 s doubling to 8 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(8_000, 500 * 2 ** (attempt - 1));
}

/** Refusals worth another attempt: the device or its link was briefly away or busy. */
const RETRYABLE = new Set<string>([
  ErrorCode.deviceOffline,
  ErrorCode.deviceBusy,
  ErrorCode.busy,
  ErrorCode.requestLost,
  ErrorCode.dataLost,
]);

/** `DEVICE:/abs/path` → its parts; null for a local path. Device ids may hold ':', paths start with '/'. */
export function remoteSpec(arg: string): { deviceId: string; path: string } | null {
  const at = arg.indexOf(':/');
  if (at <= 0) return null;
  const deviceId = arg.slice(0, at);
  if (!DEVICE_ID_PATTERN.test(deviceId)) return null;
  return { deviceId, path: arg.slice(at + 1) };
}

export function parseCpArgs(argv: string[], env: Record<string, string | undefined>): CpArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        hub: { type: 'string' },
        'api-key': { type: 'string' },
        mode: { type: 'string' },
        owner: { type: 'string' },
      },
    });
  } catch (err) {
    throw new UsageError(`cp: ${(err as Error).message}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 2)
    throw new UsageError('cp: expected LOCAL DEVICE:PATH (upload) or DEVICE:PATH LOCAL (download)');
  const [from = '', to = ''] = positionals;
  const source = remoteSpec(from);
  const target = remoteSpec(to);
  if ((source === null) === (target === null))
    throw new UsageError(
      'cp: exactly one of the two must be DEVICE:/absolute/path (the other a local path)',
    );
  const remote = (source ?? target) as { deviceId: string; path: string };
  const localPath = source ? to : from;
  if (localPath === '') throw new UsageError('cp: the local path is empty');
  let mode: number | undefined;
  if (values.mode !== undefined) {
    if (source) throw new UsageError('cp: --mode is for uploads');
    mode = /^[0-7]{1,4}$/.test(values.mode) ? parseInt(values.mode, 8) : NaN;
    if (!(mode >= 0 && mode <= MAX_FILE_MODE))
      throw new UsageError(
        `cp: --mode expects octal permission bits like 644, got "${values.mode}"`,
      );
  }
  if (values.owner !== undefined && source) throw new UsageError('cp: --owner is for uploads');
  const hubUrl = values.hub ?? env.IOTTLY_HUB_URL;
  if (!hubUrl) throw new UsageError('cp: the hub is needed: --hub URL or IOTTLY_HUB_URL');
  const apiKey = values['api-key'] ?? env.IOTTLY_API_KEY;
  if (!apiKey) throw new UsageError('cp: an API key is needed: --api-key KEY or IOTTLY_API_KEY');
  return {
    hubUrl: hubStreamUrl(hubUrl, 'cp'),
    apiKey,
    deviceId: remote.deviceId,
    remotePath: remote.path,
    localPath,
    direction: source ? 'download' : 'upload',
    mode,
    owner: values.owner,
  };
}

/** How one attempt ended, as this process's exit code and a line for the operator. */
type Attempt =
  | { kind: 'ok'; message: string }
  | { kind: 'retry'; message: string }
  | { kind: 'fail'; exit: number; message: string };

export async function runCp(args: CpArgs, io: CpIo): Promise<number> {
  const say = (line: string): void => void io.stderr.write(`iottly-agent cp: ${line}\n`);
  const delay = io.delay ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const retries = io.retries ?? CP_RETRIES;
  let prepared: Prepared;
  try {
    prepared =
      args.direction === 'upload' ? await prepareUpload(args) : await prepareDownload(args);
  } catch (err) {
    if (err instanceof LocalError) {
      say(err.message);
      return err.exit;
    }
    throw err;
  }
  for (let attempt = 1; ; attempt++) {
    const result = await prepared.attempt(`cp-${attempt}`, say);
    if (result.kind === 'ok') {
      say(result.message);
      return ExitCode.ok;
    }
    if (result.kind === 'fail') {
      say(result.message);
      return result.exit;
    }
    if (attempt > retries) {
      say(`${result.message}; gave up after ${attempt} attempts (run the same cp again to resume)`);
      return ExitCode.execFailed;
    }
    const wait = retryDelayMs(attempt);
    say(`${result.message}; retrying in ${wait} ms (resuming)`);
    await delay(wait);
  }
}

interface Prepared {
  attempt(requestId: string, say: (line: string) => void): Promise<Attempt>;
}

class LocalError extends Error {
  constructor(
    readonly exit: number,
    message: string,
  ) {
    super(message);
  }
}

/** The ending of a session that did not complete: retry, or fail with its code. */
function unfinished(end: SessionEnd, what: string): Attempt {
  if (end.kind === 'dropped') return { kind: 'retry', message: `${what}: ${end.message}` };
  if (end.kind === 'refused')
    return { kind: 'fail', exit: ExitCode.execFailed, message: `${what}: ${end.message}` };
  const error = end.payload.error;
  if (isPlainObject(error)) {
    const code = String(error.code);
    const message = `${what}: ${code}: ${String(error.message ?? '')}`;
    if (RETRYABLE.has(code)) return { kind: 'retry', message };
    return {
      kind: 'fail',
      exit: code === ErrorCode.fileCorrupt ? ExitCode.dataErr : ExitCode.execFailed,
      message,
    };
  }
  if (end.payload.closed === true)
    return { kind: 'retry', message: `${what}: the session was closed` };
  return {
    kind: 'fail',
    exit: ExitCode.execFailed,
    message: `${what}: the device ended the session`,
  };
}

/** A sha256 fed with a local file's first `length` bytes (all without it), streamed. */
async function hashFile(path: string, length?: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (length === 0) return hash;
  const stream = createReadStream(path, {
    highWaterMark: 1024 * 1024,
    ...(length !== undefined ? { end: length - 1 } : {}),
  });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash;
}

async function prepareUpload(args: CpArgs): Promise<Prepared> {
  let st: Stats;
  try {
    st = await stat(args.localPath);
  } catch (err) {
    throw new LocalError(ExitCode.noInput, `${args.localPath}: ${(err as Error).message}`);
  }
  if (!st.isFile())
    throw new LocalError(ExitCode.noInput, `${args.localPath} is not a regular file`);
  const size = st.size;
  let sha256: string;
  try {
    sha256 = (await hashFile(args.localPath)).digest('hex');
  } catch (err) {
    throw new LocalError(ExitCode.noInput, `${args.localPath}: ${(err as Error).message}`);
  }
  const path = args.remotePath.endsWith('/')
    ? `${args.remotePath}${basename(args.localPath)}`
    : args.remotePath;
  const what = `${args.localPath} → ${args.deviceId}:${path}`;
  const open: Record<string, unknown> = {
    device_id: args.deviceId,
    kind: 'file_put',
    path,
    size,
    sha256,
  };
  if (args.mode !== undefined) open.mode = args.mode;
  if (args.owner !== undefined) open.owner = args.owner;
  return {
    attempt: (requestId, say) =>
      new Promise<Attempt>((resolve) => {
        let consumed = 0;
        let sent = 0;
        let reader: ReturnType<typeof createReadStream> | null = null;
        let readFailed: Error | null = null;
        const pump = (): void => {
          if (!reader) return;
          const blocked = sent - consumed >= SESSION_WINDOW_BYTES || session.backedUp;
          if (blocked && !reader.isPaused()) reader.pause();
          else if (!blocked && reader.isPaused()) reader.resume();
          if (session.backedUp) session.onDrain(pump);
        };
        const session = new StreamSession(args.hubUrl, args.apiKey, requestId, open, {
          reply: (type, payload) => {
            if (type === 'session_opened') {
              const offset = typeof payload.offset === 'number' ? payload.offset : 0;
              if (offset > 0) say(`resuming at byte ${offset} of ${size}`);
              if (offset >= size) return;
              reader = createReadStream(args.localPath, {
                start: offset,
                highWaterMark: 256 * 1024,
              });
              reader.on('data', (chunk) => {
                const bytes = chunk as Buffer;
                for (let at = 0; at < bytes.length; at += MAX_BYTE_FRAME_DATA) {
                  const piece = bytes.subarray(at, at + MAX_BYTE_FRAME_DATA);
                  sent += piece.length;
                  session.sendBytes(piece);
                }
                pump();
              });
              reader.on('end', () => session.sendEof());
              reader.on('error', (err) => {
                readFailed = err;
                session.close();
              });
            } else if (type === 'input_consumed' && typeof payload.bytes === 'number') {
              consumed = Math.max(consumed, payload.bytes);
              pump();
            }
          },
        });
        void session.result.then((end) => {
          (reader as ReturnType<typeof createReadStream> | null)?.destroy();
          if (readFailed)
            return resolve({
              kind: 'fail',
              exit: ExitCode.noInput,
              message: `${args.localPath}: ${(readFailed as Error).message}`,
            });
          if (end.kind === 'done' && end.payload.exit_code === 0) {
            if (end.payload.sha256 !== sha256)
              return resolve({
                kind: 'fail',
                exit: ExitCode.dataErr,
                message: `${what}: the device reports sha256 ${String(end.payload.sha256)}, not ${sha256}`,
              });
            return resolve({ kind: 'ok', message: `${what}: ${size} bytes, sha256 ${sha256}` });
          }
          resolve(unfinished(end, what));
        });
      }),
  };
}

async function prepareDownload(args: CpArgs): Promise<Prepared> {
  const name = basename(args.remotePath);
  if (name === '' || args.remotePath.endsWith('/'))
    throw new UsageError('cp: the device path must name a file');
  const local = await stat(args.localPath).catch(() => null);
  const target =
    args.localPath.endsWith('/') || local?.isDirectory()
      ? join(args.localPath, name)
      : args.localPath;
  const part = join(dirname(target), clientPartName(basename(target)));
  const what = `${args.deviceId}:${args.remotePath} → ${target}`;
  /** A part that is not a prefix of the device's file (it changed since) is dropped once. */
  let startedOver = false;
  return {
    attempt: async (requestId, say) => {
      // The part is continued from its length; what it holds is hashed again on each attempt.
      let handle: FileHandle;
      let offset: number;
      let hash: Hash;
      try {
        handle = await open(part, 'a+', 0o600);
        offset = (await handle.stat()).size;
        hash = await hashFile(part, offset);
      } catch (err) {
        return {
          kind: 'fail',
          exit: ExitCode.cannotCreate,
          message: `${part}: ${(err as Error).message}`,
        };
      }
      if (offset > 0) say(`resuming at byte ${offset}`);
      const result = await download(args, requestId, handle, offset, hash);
      if (result.kind !== 'verified' && offset > 0 && !startedOver && partMismatch(result)) {
        startedOver = true;
        await handle.close().catch(() => undefined);
        await unlink(part).catch(() => undefined);
        return {
          kind: 'retry',
          message: `${what}: the local part (${offset} bytes) is not the start of the device's file, which changed since: starting over`,
        };
      }
      if (result.kind !== 'verified') {
        await handle.sync().catch(() => undefined);
        await handle.close().catch(() => undefined);
        // A corrupt part is useless; an empty one (refused at once) is litter.
        const left = await stat(part).catch(() => null);
        if (result.kind === 'corrupt' || left?.size === 0)
          await unlink(part).catch(() => undefined);
        return result.attempt;
      }
      try {
        await handle.sync();
        await handle.close();
        await chmod(part, result.mode & 0o777 & ~process.umask());
        await rename(part, target);
      } catch (err) {
        return {
          kind: 'fail',
          exit: ExitCode.cannotCreate,
          message: `${target}: ${(err as Error).message}`,
        };
      }
      return { kind: 'ok', message: `${what}: ${result.size} bytes, sha256 ${result.sha256}` };
    },
  };

  type Downloaded =
    | { kind: 'verified'; size: number; sha256: string; mode: number }
    | { kind: 'corrupt'; attempt: Attempt }
    | { kind: 'other'; attempt: Attempt };

  /** The received file's sha256 differed, or the device said file_corrupt (a part too long). */
  function partMismatch(result: Downloaded): boolean {
    if (result.kind === 'corrupt') return true;
    return (
      result.kind === 'other' &&
      result.attempt.kind === 'fail' &&
      result.attempt.exit === ExitCode.dataErr
    );
  }

  function download(
    args: CpArgs,
    requestId: string,
    handle: FileHandle,
    offset: number,
    hash: Hash,
  ): Promise<Downloaded> {
    return new Promise((resolve) => {
      let size = -1;
      let mode = 0o644;
      let written = 0;
      let writing: Promise<void> = Promise.resolve();
      let writeFailed: Error | null = null;
      const session = new StreamSession(
        args.hubUrl,
        args.apiKey,
        requestId,
        { device_id: args.deviceId, kind: 'file_get', path: args.remotePath, offset },
        {
          reply: (type, payload) => {
            if (type !== 'session_opened') return;
            if (typeof payload.size === 'number') size = payload.size;
            if (typeof payload.mode === 'number') mode = payload.mode;
          },
          bytes: (data) => {
            const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
            // One write at a time, in order; acknowledged once on disk (the agent's window).
            writing = writing.then(async () => {
              if (writeFailed) return;
              try {
                let at = 0;
                while (at < bytes.length)
                  at += (await handle.write(bytes, at, bytes.length - at)).bytesWritten;
              } catch (err) {
                writeFailed = err as Error;
                session.close();
                return;
              }
              hash.update(bytes);
              written += bytes.length;
              session.sendJson('session_ack', { bytes: written });
            });
          },
        },
      );
      void session.result.then(async (end) => {
        await writing;
        if (writeFailed)
          return resolve({
            kind: 'other',
            attempt: {
              kind: 'fail',
              exit: ExitCode.cannotCreate,
              message: `${part}: ${writeFailed.message}`,
            },
          });
        if (end.kind === 'done' && end.payload.exit_code === 0) {
          const sha256 = hash.digest('hex');
          if (end.payload.sha256 !== sha256 || offset + written !== size)
            return resolve({
              kind: 'corrupt',
              attempt: {
                kind: 'fail',
                exit: ExitCode.dataErr,
                message: `${what}: file_corrupt: received ${offset + written} of ${size} bytes with sha256 ${sha256}, the device read ${String(end.payload.sha256)}; nothing written`,
              },
            });
          return resolve({ kind: 'verified', size, sha256, mode });
        }
        resolve({ kind: 'other', attempt: unfinished(end, what) });
      });
    });
  }
}
