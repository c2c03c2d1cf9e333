import type { Logger } from 'pino';
import type { AgentContext, Feature } from '../agent/agent.js';
import type { ConnectionStatus } from '../agent/connection-status.js';
import {
  APPS_CHANNEL,
  USER_MESSAGE_TYPE,
  appCommandPayload,
  namedEntry,
  type AppCommandPayload,
} from '../protocol/apps.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { Channel, MAX_FRAME_BYTES } from '../protocol/message.js';
import type { ParsedFrame } from '../protocol/parse.js';
import type { ActionRunner } from './action-runner.js';
import type { AppPeer } from './app-peer.js';
import { SdkServer, type AppQueueStats, type SdkServerOptions } from './sdk-server.js';
import { LocalSocketError } from './socket-file.js';
import { commandLine, type AppLine, type ConnectionState } from './sdk-wire.js';
import { LogCode } from '../log/log-codes.js';

/**
 * Local apps as an agent feature: the SDK socket on one side, the agent's router and outbox on
 * the other.
 *
 *     app data           → `user` message (channel: the app's, or none), through the outbox
 *     app error signal   → `app_error` (channel `apps`)
 *     app call signal    → `app_call`, then `app_call_done` (the action's result, or
 *                          `unknown_action` when local.actions has no such name)
 *     hub `app_command`  → `{"data": {"<cmd_type>": {…}}}` to the named app or to every app,
 *                          answered `app_command_done` or `error` app_not_connected
 *     link status        → `connectionstatus` to every app
 *
 * A socket that cannot be opened is logged and the agent runs on without local apps: the
 * cloud link matters more than any one app.
 */
export type LocalServerSettings = Omit<
  SdkServerOptions,
  'onAppLine' | 'initialConnectionState' | 'clock' | 'logger'
>;

export interface LocalAppsOptions {
  server: LocalServerSettings;
  /** Routine name → command line, for the SDK's `call_agent`. */
  actions: Readonly<Record<string, string>>;
  actionRunner: ActionRunner;
}

/** Room left in one frame (MAX_FRAME_BYTES) for an app's payload, after the envelope. */
export const MAX_APP_PAYLOAD_BYTES = MAX_FRAME_BYTES - 4096;

/**
 * True when the payload would make the upstream frame too large (the hub would close the link
 * with 1009). A UTF-16 unit is at most 3 UTF-8 bytes, so only long lines are measured exactly.
 */
function tooLargeForOneFrame(lineLength: number, payload: Record<string, unknown>): boolean {
  if (lineLength * 3 <= MAX_APP_PAYLOAD_BYTES) return false;
  return Buffer.byteLength(JSON.stringify(payload)) > MAX_APP_PAYLOAD_BYTES;
}

export function connectionStateOf(status: ConnectionStatus): ConnectionState {
  return status.kind === 'online' ? 'connected' : 'disconnected';
}

export class LocalApps implements Feature {
  readonly name = 'local-apps';
  readonly #o: LocalAppsOptions;
  readonly #abort = new AbortController();
  readonly #actions = new Set<Promise<void>>();
  #server: SdkServer | null = null;
  #unsubscribe: (() => void) | null = null;

  constructor(options: LocalAppsOptions) {
    this.#o = options;
  }

  capabilities(): string[] {
    return ['apps'];
  }

  /** The server, once started (for diagnostics and tests). */
  get server(): SdkServer | null {
    return this.#server;
  }

  /** What the apps' queues hold (zeros while the socket is not served). */
  queueStats(): AppQueueStats {
    return (
      this.#server?.queueStats() ?? { apps: 0, queuedLines: 0, queuedBytes: 0, droppedLines: 0 }
    );
  }

  async start(context: AgentContext): Promise<void> {
    const logger = context.logger.child({ feature: this.name });
    const server = new SdkServer({
      ...this.#o.server,
      initialConnectionState: connectionStateOf(context.status()),
      clock: context.clock,
      logger,
      onAppLine: (peer, line) => this.#onAppLine(context, logger, peer, line),
    });
    this.#server = server;
    this.#unsubscribe = context.onStatus((status) =>
      server.setConnectionState(connectionStateOf(status)),
    );
    context.router.register('app_command', appCommandPayload, (payload, frame) =>
      this.#onAppCommand(context, server, payload, frame),
    );
    try {
      const { removedStale } = await server.start();
      logger.info(
        { path: this.#o.server.path, removedStale, actions: Object.keys(this.#o.actions) },
        'local SDK socket listening',
      );
    } catch (err) {
      logger.error(
        {
          code: err instanceof LocalSocketError ? err.code : LogCode.localSocketFailed,
          path: this.#o.server.path,
          err: (err as Error).message,
        },
        'local SDK socket unavailable; running without local apps',
      );
    }
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#abort.abort();
    await Promise.all([this.#server?.stop(), ...this.#actions]);
  }

  #onAppLine(context: AgentContext, logger: Logger, peer: AppPeer, line: AppLine): void {
    switch (line.kind) {
      case 'data':
        if (tooLargeForOneFrame(line.lineLength, line.payload)) {
          logger.warn(
            { code: LogCode.appMessageTooLarge, session: peer.id, app: line.app },
            `app message dropped: over ${MAX_APP_PAYLOAD_BYTES} bytes, it would not fit one frame`,
          );
          return;
        }
        context.emit(USER_MESSAGE_TYPE, line.channel ?? null, {
          app: line.app,
          payload: line.payload,
        });
        return;
      case 'error':
        logger.warn(
          { session: peer.id, app: line.app, errorType: line.errorType },
          `app reported an error: ${line.message.slice(0, 500)}`,
        );
        context.emit('app_error', APPS_CHANNEL, {
          app: line.app,
          error: { type: line.errorType, msg: line.message },
        });
        return;
      case 'call':
        context.emit('app_call', APPS_CHANNEL, { app: line.app, name: line.call, args: line.args });
        this.#track(this.#call(context, logger, line.app, line.call, line.args));
        return;
      case 'status':
        return; // the server answers the handshake
    }
  }

  async #call(
    context: AgentContext,
    logger: Logger,
    app: string,
    name: string,
    args: Record<string, unknown>,
  ): Promise<void> {
    const done = (result: Record<string, unknown>): void =>
      context.emit('app_call_done', APPS_CHANNEL, { app, name, ...result });
    const commandLine = Object.hasOwn(this.#o.actions, name) ? this.#o.actions[name] : undefined;
    if (commandLine === undefined) {
      logger.warn(
        { code: ErrorCode.unknownAction, app, call: name },
        'app called an unknown action',
      );
      done({
        error: {
          code: ErrorCode.unknownAction,
          message: `no action "${name}" in local.actions`,
        },
      });
      return;
    }
    try {
      const result = await this.#o.actionRunner.run(
        { commandLine, env: { IOTTLY_CALL_ARGS: JSON.stringify(args), IOTTLY_CALL_APP: app } },
        this.#abort.signal,
      );
      logger.info(
        { app, call: name, exitCode: result.exitCode, timedOut: result.timedOut },
        'action finished',
      );
      done({
        exit_code: result.exitCode,
        signal: result.signal,
        timed_out: result.timedOut,
        truncated: result.truncated,
        stdout: result.stdout,
        stderr: result.stderr,
      });
    } catch (err) {
      const code = (err as { code?: string }).code ?? ErrorCode.internalError;
      logger.warn({ code, app, call: name, err: (err as Error).message }, 'action could not run');
      done({ error: { code, message: (err as Error).message } });
    }
  }

  #onAppCommand(
    context: AgentContext,
    server: SdkServer,
    payload: AppCommandPayload,
    frame: ParsedFrame,
  ): void {
    const apps = server.apps(payload.app);
    if (apps.length === 0) {
      const message =
        payload.app === undefined ? 'no app is connected' : `app "${payload.app}" is not connected`;
      context.emit(
        'error',
        Channel.errors,
        { code: ErrorCode.appNotConnected, message },
        frame.request_id,
      );
      return;
    }
    const entry = namedEntry(payload.command, 'payload.command');
    if (!entry.ok) throw new Error(entry.error); // the validator vouched for it already
    const line = commandLine(entry.value.name, entry.value.params);
    for (const app of apps) app.send(line);
    context.emit(
      'app_command_done',
      APPS_CHANNEL,
      { delivered: [...new Set(apps.map((app) => app.name as string))] },
      frame.request_id,
    );
  }

  #track(action: Promise<void>): void {
    this.#actions.add(action);
    void action.finally(() => this.#actions.delete(action));
  }
}
