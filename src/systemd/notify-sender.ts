import { spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Clock } from '../time/clock.js';
import { LogCode } from '../log/log-codes.js';

/**
 * Sends sd_notify(3) messages by running `systemd-notify`. Node cannot open the Unix datagram
 * socket that NOTIFY_SOCKET names, and a single-executable build carries no native addon, so
 * the stock tool does it (the unit sets `NotifyAccess=all`, since the sender is our child).
 * systemd-notify waits on a barrier until systemd has read the message, so the message is not
 * lost to the race of a sender that exits before systemd can tell which unit it belongs to.
 *
 * One child at a time: what arrives meanwhile is merged (the latest value of each variable
 * wins) and sent next, so a burst of status changes costs one process, not one each.
 */
export interface NotifyChild extends EventEmitter {
  readonly stderr: Readable | null;
  kill(signal?: NodeJS.Signals): boolean;
}

export type NotifySpawn = (
  command: string,
  args: string[],
  env: Record<string, string>,
) => NotifyChild;

export interface NotifySenderOptions {
  /** The NOTIFY_SOCKET value to pass on. */
  socket: string;
  /** PATH to find systemd-notify in. */
  path: string;
  clock: Clock;
  logger: Logger;
  spawn?: NotifySpawn;
  /** Longest a systemd-notify run may take before it is killed (its own barrier wait is 5 s). */
  timeoutMs?: number;
}

export const NOTIFY_COMMAND = 'systemd-notify';
const DEFAULT_TIMEOUT_MS = 10_000;
/** Enough of systemd-notify's stderr to explain a failure. */
const STDERR_LIMIT = 2_000;

const spawnNotify: NotifySpawn = (command, args, env) =>
  spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });

export class NotifySender {
  readonly #o: NotifySenderOptions;
  readonly #spawn: NotifySpawn;
  readonly #pending = new Map<string, string>();
  readonly #idleWaiters: (() => void)[] = [];
  #busy = false;
  #unavailable = false;
  #failing = false;

  constructor(options: NotifySenderOptions) {
    this.#o = options;
    this.#spawn = options.spawn ?? spawnNotify;
  }

  /** Queues `NAME=value` assignments; values are made single-line, as the protocol needs. */
  send(fields: Record<string, string>): void {
    if (this.#unavailable) return;
    for (const [name, value] of Object.entries(fields)) {
      this.#pending.delete(name); // re-insert so the message keeps the order of the last sends
      this.#pending.set(name, value.replace(/[\r\n]+/g, ' '));
    }
    this.#pump();
  }

  /** Resolves once everything queued has been handed to systemd (or given up on). */
  idle(): Promise<void> {
    if (!this.#busy && this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #pump(): void {
    if (this.#busy) return;
    if (this.#pending.size === 0 || this.#unavailable) {
      this.#pending.clear();
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
      return;
    }
    const args = [...this.#pending].map(([name, value]) => `${name}=${value}`);
    this.#pending.clear();
    this.#busy = true;
    this.#run(args).finally(() => {
      this.#busy = false;
      this.#pump();
    });
  }

  #run(args: string[]): Promise<void> {
    const { clock, logger } = this.#o;
    return new Promise((resolve) => {
      let child: NotifyChild;
      try {
        child = this.#spawn(NOTIFY_COMMAND, args, {
          NOTIFY_SOCKET: this.#o.socket,
          PATH: this.#o.path,
        });
      } catch (err) {
        this.#failed(err as Error, args);
        resolve();
        return;
      }
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        if (stderr.length < STDERR_LIMIT) stderr += chunk.toString('utf8');
      });
      const timer = clock.setTimeout(() => {
        child.kill('SIGKILL');
      }, this.#o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      timer.unref?.();
      let settled = false;
      const settle = (error: Error | null): void => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        if (error) this.#failed(error, args);
        else if (this.#failing) {
          this.#failing = false;
          logger.info('systemd notifications work again');
        }
        resolve();
      };
      child.once('error', (err: Error) => settle(err));
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        if (code === 0) settle(null);
        else {
          const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
          settle(new Error(`${NOTIFY_COMMAND} ${how}: ${stderr.trim() || '(no message)'}`));
        }
      });
    });
  }

  /** Logs the first failure of a streak; a missing systemd-notify disables notifications. */
  #failed(err: Error, args: string[]): void {
    const { logger } = this.#o;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      this.#unavailable = true;
      logger.error(
        { code: LogCode.systemdNotifyUnavailable },
        `${NOTIFY_COMMAND} not found on PATH: systemd will not hear READY=1 or WATCHDOG=1 (install systemd, or use Type=simple without WatchdogSec)`,
      );
      return;
    }
    if (this.#failing) return;
    this.#failing = true;
    logger.warn(
      { code: LogCode.systemdNotifyFailed, sent: args.map((arg) => arg.split('=')[0]) },
      `systemd notification failed: ${err.message}`,
    );
  }
}
