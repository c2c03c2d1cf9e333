/**
 * The parent's side of the stream client (bench/fleet/stream-client.ts): forks it, and turns
 * its IPC messages into awaitable answers. A `failed` message, or the process ending, rejects
 * whatever is awaited then and every wait after.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type {
  DeliveryFigures,
  FromStreamClient,
  StreamClientSettings,
  ToStreamClient,
} from './client-protocol.js';
import type { SampleWindow } from './sample-tally.js';

const CLIENT_SCRIPT = fileURLToPath(new URL('./stream-client.ts', import.meta.url));
const READY_TIMEOUT_MS = 60_000;

interface Waiter {
  kind: FromStreamClient['kind'];
  resolve: (message: FromStreamClient) => void;
  reject: (err: Error) => void;
}

export class StreamClientProcess {
  readonly #child: ChildProcess;
  #failure: Error | null = null;
  #waiter: Waiter | null = null;

  constructor() {
    this.#child = fork(CLIENT_SCRIPT, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (message: FromStreamClient) => {
      if (message.kind === 'failed') this.#fail(new Error(`stream client: ${message.message}`));
      else if (this.#waiter?.kind === message.kind) {
        const { resolve } = this.#waiter;
        this.#waiter = null;
        resolve(message);
      }
    });
    this.#child.once('exit', (code, signal) =>
      this.#fail(new Error(`stream client exited (${signal ?? code})`)),
    );
  }

  get pid(): number {
    return this.#child.pid as number;
  }

  /** Subscribes to every device; resolves once the hub has confirmed each subscription. */
  async subscribe(settings: StreamClientSettings): Promise<void> {
    const ready = this.#next('ready', READY_TIMEOUT_MS);
    this.#send({ kind: 'subscribe', settings });
    await ready;
  }

  startWindow(window: SampleWindow): void {
    this.#send({ kind: 'window', window });
  }

  /** The window's figures, once `expected` samples have arrived or `graceMs` has passed. */
  async collect(expected: number, graceMs: number): Promise<DeliveryFigures> {
    const figures = this.#next('figures', graceMs + 5_000);
    this.#send({ kind: 'collect', expected, graceMs });
    const message = await figures;
    if (message.kind !== 'figures') throw new Error(`expected figures, got ${message.kind}`);
    return message.figures;
  }

  stop(): void {
    if (this.#child.connected) this.#child.disconnect();
    if (this.#child.exitCode === null) this.#child.kill('SIGTERM');
  }

  #send(message: ToStreamClient): void {
    if (this.#failure) throw this.#failure;
    this.#child.send(message);
  }

  #next(kind: FromStreamClient['kind'], timeoutMs: number): Promise<FromStreamClient> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.#fail(new Error(`stream client: no "${kind}" in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiter = {
        kind,
        resolve: (message) => {
          clearTimeout(timer);
          resolve(message);
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
