/**
 * A helper process of the fleet run (the stream client, a fleet shard): a TypeScript script
 * forked with tsx and driven over its IPC channel. Its answers are awaited by kind; a `failed`
 * message, a missed deadline or the process ending rejects what is awaited then and every wait
 * after, so a broken helper fails the step instead of hanging it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Serializable } from 'node:child_process';
import { once } from 'node:events';

export interface PeerMessage {
  kind: string;
}

/** What a helper says when it cannot go on: it fails the step. */
export interface PeerFailed {
  kind: 'failed';
  message: string;
}

export class ForkedPeer<To extends PeerMessage, From extends PeerMessage> {
  readonly #name: string;
  readonly #child: ChildProcess;
  #failure: Error | null = null;
  #waiter: {
    kind: From['kind'];
    resolve: (message: From) => void;
    reject: (err: Error) => void;
  } | null = null;

  constructor(name: string, script: string) {
    this.#name = name;
    this.#child = fork(script, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (message: From | PeerFailed) => {
      if (message.kind === 'failed')
        this.#fail(new Error(`${name}: ${(message as PeerFailed).message}`));
      else if (this.#waiter?.kind === message.kind) {
        const { resolve } = this.#waiter;
        this.#waiter = null;
        resolve(message as From);
      }
    });
    this.#child.once('exit', (code, signal) =>
      this.#fail(new Error(`${name} exited (${signal ?? code})`)),
    );
  }

  get pid(): number {
    return this.#child.pid as number;
  }

  send(message: To): void {
    if (this.#failure) throw this.#failure;
    this.#child.send(message as unknown as Serializable);
  }

  /** Sends `message` and waits for the answer of `kind`, at most `timeoutMs`. */
  async ask<K extends From['kind']>(
    message: To,
    kind: K,
    timeoutMs: number,
  ): Promise<Extract<From, { kind: K }>> {
    const answer = this.#next(kind, timeoutMs);
    this.send(message);
    return (await answer) as Extract<From, { kind: K }>;
  }

  /**
   * Ends the process: closes its IPC channel, which the helper takes as "clean up and exit",
   * and kills it if it has not exited within `graceMs`.
   */
  async stop(graceMs = 30_000): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = once(this.#child, 'exit');
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  #next(kind: From['kind'], timeoutMs: number): Promise<From> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.#fail(new Error(`${this.#name}: no "${kind}" in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiter = {
        kind,
        resolve: (message) => {
          clearTimeout(timer);
          resolve(message as From);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
    });
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(this.#failure);
  }
}
