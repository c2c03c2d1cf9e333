import { existsSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { APP_NAME_PATTERN } from '../protocol/apps.js';
import { MAX_JSON_DEPTH, decodeJson } from '../protocol/bounded-json.js';
import { isPlainObject } from '../protocol/schema.js';
import { SYSTEM_SOCKET_PATH } from '../config/default-paths.js';
import { loadConfig } from '../config/load.js';
import { socketPathFor } from '../roots/local-apps-wiring.js';
import { LineSplitter } from '../local/line-splitter.js';
import { clientDataLine, clientStatusLine } from '../local/sdk-wire.js';
import { ExitCode } from './exit-codes.js';
import { UsageError } from './usage-error.js';

/**
 * `iottly-agent publish [--channel C] [--app NAME] ['<json>']`: sends JSON objects to the cloud
 * through the running agent's local SDK socket, as an app would (they become Type `user`
 * messages). Without a JSON argument it reads stdin, one JSON object per line; a bad line is
 * reported with its number and skipped, and the exit code is then 65. No agent listening: 69.
 *
 * The socket is the agent's: `--local-socket-path`, else the configuration's (`--config`, the
 * IOTTLY_* environment), resolved exactly as `run` resolves it. Left to its default, a user who
 * is not root reaches their own agent, else the installed service (whose socket group they may
 * be in).
 */
export const DEFAULT_PUBLISH_APP = 'iottly-agent-publish';
/** The SDK waits 1 s for sdkinit; a command-line tool can afford a little more. */
const HANDSHAKE_TIMEOUT_MS = 2_000;

export interface PublishDependencies {
  env: Record<string, string | undefined>;
  stdin: Readable;
  stderr: { write(text: string): unknown };
  readFile: (path: string) => string;
  connect?: (path: string) => Socket;
  /** Whose default socket path (default: this process's uid and home). */
  uid?: number;
  homeDir?: string;
  exists?: (path: string) => boolean;
}

interface PublishArgs {
  app: string;
  channel: string | undefined;
  message: string | undefined;
  socketPath: string;
  /** Where else it looked, for the message when nothing answers. */
  alsoTried: string | undefined;
}

export async function runPublish(argv: string[], deps: PublishDependencies): Promise<number> {
  const args = parsePublishArgs(argv, deps);
  const fail = (code: number, text: string): number => {
    deps.stderr.write(`iottly-agent publish: ${text}\n`);
    return code;
  };
  let single: Record<string, unknown> | undefined;
  if (args.message !== undefined) {
    const parsed = parseObject(args.message);
    if (typeof parsed === 'string') return fail(ExitCode.dataErr, parsed);
    single = parsed;
  }

  const socket = (deps.connect ?? createConnection)(args.socketPath);
  const connected = await handshake(socket, args.app);
  if (connected !== true) {
    socket.destroy();
    return fail(
      ExitCode.unavailable,
      `the agent is not running or not serving apps: ${connected} (socket ${args.socketPath}${args.alsoTried ? `; nor at ${args.alsoTried}` : ''})`,
    );
  }
  socket.on('error', () => {}); // a later failure shows as an early close below

  let bad = 0;
  const write = async (payload: Record<string, unknown>): Promise<void> => {
    if (!socket.write(clientDataLine(args.app, payload, args.channel))) {
      await new Promise((resolve) => socket.once('drain', resolve));
    }
  };
  if (single) await write(single);
  else {
    let number = 0;
    for await (const line of createInterface({ input: deps.stdin, crlfDelay: Infinity })) {
      number++;
      if (line.trim() === '') continue;
      const parsed = parseObject(line);
      if (typeof parsed === 'string') {
        bad++;
        deps.stderr.write(`iottly-agent publish: stdin line ${number}: ${parsed}; skipped\n`);
      } else await write(parsed);
    }
  }
  socket.end(clientStatusLine(args.app, 'disconnected'));
  await new Promise((resolve) => socket.once('close', resolve));
  return bad > 0 ? ExitCode.dataErr : ExitCode.ok;
}

function parsePublishArgs(argv: string[], deps: PublishDependencies): PublishArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        channel: { type: 'string' },
        app: { type: 'string' },
        config: { type: 'string' },
        'local-socket-path': { type: 'string' },
      },
    });
  } catch (err) {
    throw new UsageError(`publish: ${(err as Error).message.split('\n')[0]}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) {
    throw new UsageError('publish: expected at most one JSON message (or none, to read stdin)');
  }
  const app = values.app ?? DEFAULT_PUBLISH_APP;
  if (!APP_NAME_PATTERN.test(app)) throw new UsageError('--app: expected 1-128 printable chars');
  const channel = values.channel;
  if (channel !== undefined && !APP_NAME_PATTERN.test(channel)) {
    throw new UsageError('--channel: expected 1-128 printable chars');
  }
  const flags: Record<string, string> = {};
  if (values['local-socket-path'] !== undefined) {
    flags['local.socketPath'] = values['local-socket-path'];
  }
  const { config, sourceOf } = loadConfig({
    configPath: values.config,
    env: deps.env,
    flags,
    readFile: deps.readFile,
    ...('uid' in deps ? { uid: deps.uid } : {}),
    ...(deps.homeDir !== undefined ? { homeDir: deps.homeDir } : {}),
  });
  const socketPath = socketPathFor(config.local.socketPath, deps.env);
  const exists = deps.exists ?? existsSync;
  const fallback =
    sourceOf('local.socketPath') === 'default' && socketPath !== SYSTEM_SOCKET_PATH
      ? SYSTEM_SOCKET_PATH
      : undefined;
  const useFallback = fallback !== undefined && !exists(socketPath) && exists(fallback);
  return {
    app,
    channel,
    message: positionals[0],
    socketPath: useFallback ? fallback : socketPath,
    alsoTried: useFallback ? undefined : fallback,
  };
}

/**
 * The payload goes into a data line two levels down (`{"data": {…, "payload": …}}`), and the
 * agent takes lines of at most MAX_JSON_DEPTH levels: a deeper payload is refused here, with a
 * reason, rather than sent and dropped by the agent.
 */
const MAX_PAYLOAD_DEPTH = MAX_JSON_DEPTH - 2;
const MAX_PAYLOAD_BYTES = 1 << 20;

/** A JSON object, or a message saying why the text is not one. */
function parseObject(text: string): Record<string, unknown> | string {
  const json = decodeJson(text, { maxBytes: MAX_PAYLOAD_BYTES, maxDepth: MAX_PAYLOAD_DEPTH });
  if (!json.ok) return json.message;
  return isPlainObject(json.value) ? json.value : 'expected a JSON object, e.g. {"t": 21.5}';
}

/** Says who we are and waits for sdkinit: true, or why not. */
function handshake(socket: Socket, app: string): Promise<true | string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish('no handshake from the agent'), HANDSHAKE_TIMEOUT_MS);
    const finish = (result: true | string): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.off('error', onError);
      socket.off('close', onClose);
      resolve(result);
    };
    const onError = (err: NodeJS.ErrnoException): void => finish(err.code ?? err.message);
    const onClose = (): void => finish('the agent closed the connection');
    const splitter = new LineSplitter({
      maxLineBytes: 1 << 20,
      onLine: (line) => {
        // Anything but sdkinit is not for us: the handshake waits for that only. The splitter
        // bounded the line in bytes.
        const json = decodeJson(line, { maxBytes: Number.POSITIVE_INFINITY });
        if (json.ok && isPlainObject(json.value) && isPlainObject(json.value.signal)) {
          if (isPlainObject(json.value.signal.sdkinit)) finish(true);
        }
      },
      onOverflow: () => finish('the agent sent an oversized line'),
    });
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    socket.once('connect', () => socket.write(clientStatusLine(app, 'connected', 'publish')));
  });
}
