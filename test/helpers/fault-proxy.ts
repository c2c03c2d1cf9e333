import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Owner } from './owner.js';
import { resetSocket } from './reset-socket.js';

/**
 * A TCP proxy between the agent and the hub that misbehaves on demand:
 *
 * - `pass`: bytes flow both ways;
 * - `blackhole`: connections stay open but every byte is swallowed silently, both ways, and new
 *   connections are accepted and swallowed too (a half-open link: only a heartbeat notices);
 * - `reset`: every connection is reset (RST), and new ones are reset as soon as they arrive;
 * - `throttle(bytesPerSecond)`: bytes flow at most this fast in each direction;
 * - `cutMidFrame()`: the next chunk from the agent is forwarded only in part, then both sides
 *   are reset (a WebSocket frame torn in the middle).
 *
 * It is closed when the owner given to `start` (the test) ends.
 */
export type ProxyMode = 'pass' | 'blackhole' | 'reset';

interface Pair {
  client: Socket;
  upstream: Socket | null;
  swallowing: boolean;
  queues: { up: Buffer[]; down: Buffer[] };
}

const TICK_MS = 20;

export class FaultProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<Pair>();
  #mode: ProxyMode = 'pass';
  #bytesPerSecond: number | null = null;
  #cutArmed = false;
  #ticker: ReturnType<typeof setInterval> | null = null;
  accepted = 0;

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = createServer((client) => this.#accept(client));
  }

  static async start(
    owner: Owner,
    targetPort: number,
    targetHost = '127.0.0.1',
  ): Promise<FaultProxy> {
    const proxy = new FaultProxy({ host: targetHost, port: targetPort });
    owner.after(() => proxy.close());
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get mode(): ProxyMode {
    return this.#mode;
  }

  /** Changes the mode for existing and new connections. */
  setMode(mode: ProxyMode): void {
    this.#mode = mode;
    for (const pair of this.#pairs) {
      if (mode === 'reset') this.#reset(pair);
      else if (mode === 'blackhole') pair.swallowing = true;
    }
  }

  /** Limits each direction to `bytesPerSecond`; null lifts the limit. */
  throttle(bytesPerSecond: number | null): void {
    this.#bytesPerSecond = bytesPerSecond;
    if (bytesPerSecond !== null && !this.#ticker) {
      this.#ticker = setInterval(() => this.#tick(), TICK_MS);
    }
    if (bytesPerSecond === null) this.#tick(); // release what queued
  }

  /** The next chunk from the agent is cut in the middle, then both sides are reset. */
  cutMidFrame(): void {
    this.#cutArmed = true;
  }

  connections(): number {
    return this.#pairs.size;
  }

  /** Idempotent; also registered with the owner. */
  async close(): Promise<void> {
    if (this.#ticker) clearInterval(this.#ticker);
    for (const pair of this.#pairs) this.#reset(pair);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.accepted++;
    client.on('error', () => {});
    if (this.#mode === 'reset') {
      resetSocket(client);
      return;
    }
    const pair: Pair = {
      client,
      upstream: null,
      swallowing: this.#mode === 'blackhole',
      queues: { up: [], down: [] },
    };
    this.#pairs.add(pair);
    client.on('close', () => this.#drop(pair));
    client.on('data', (chunk: Buffer) => this.#forward(pair, 'up', chunk));
    if (pair.swallowing) return;
    const upstream = connect(this.#target.port, this.#target.host);
    pair.upstream = upstream;
    upstream.on('error', () => {});
    upstream.on('data', (chunk: Buffer) => this.#forward(pair, 'down', chunk));
    upstream.on('close', () => this.#drop(pair));
  }

  #forward(pair: Pair, direction: 'up' | 'down', chunk: Buffer): void {
    if (pair.swallowing) return;
    const to = direction === 'up' ? pair.upstream : pair.client;
    if (!to) return;
    if (direction === 'up' && this.#cutArmed && chunk.length > 1) {
      this.#cutArmed = false;
      to.write(chunk.subarray(0, Math.floor(chunk.length / 2)), () => this.#reset(pair));
      pair.swallowing = true;
      return;
    }
    if (this.#bytesPerSecond === null && pair.queues[direction].length === 0) {
      to.write(chunk);
      return;
    }
    pair.queues[direction].push(chunk);
    const from = direction === 'up' ? pair.client : pair.upstream;
    if (pair.queues[direction].length > 64) from?.pause(); // backpressure, not memory
  }

  /** Releases the throttled queues: each direction gets its byte budget per tick. */
  #tick(): void {
    const budget =
      this.#bytesPerSecond === null ? Infinity : (this.#bytesPerSecond * TICK_MS) / 1000;
    for (const pair of this.#pairs) {
      for (const direction of ['up', 'down'] as const) {
        const queue = pair.queues[direction];
        const to = direction === 'up' ? pair.upstream : pair.client;
        let left = budget;
        while (queue.length > 0 && left > 0 && to && !pair.swallowing) {
          const chunk = queue[0] as Buffer;
          const part = chunk.subarray(0, Math.min(chunk.length, Math.ceil(left)));
          to.write(part);
          left -= part.length;
          if (part.length === chunk.length) queue.shift();
          else queue[0] = chunk.subarray(part.length);
        }
        const from = direction === 'up' ? pair.client : pair.upstream;
        if (queue.length <= 16) from?.resume();
      }
    }
    if (this.#bytesPerSecond === null && this.#ticker) {
      clearInterval(this.#ticker);
      this.#ticker = null;
    }
  }

  #reset(pair: Pair): void {
    pair.swallowing = true;
    resetSocket(pair.client);
    if (pair.upstream) resetSocket(pair.upstream);
    this.#pairs.delete(pair);
  }

  #drop(pair: Pair): void {
    if (!this.#pairs.has(pair)) return;
    this.#pairs.delete(pair);
    if (pair.swallowing) {
      // a blackholed link stays silent: the other side must find out by itself
      if (!pair.client.destroyed && pair.client.readyState === 'closed') pair.client.destroy();
      return;
    }
    pair.client.destroy();
    pair.upstream?.destroy();
  }
}
