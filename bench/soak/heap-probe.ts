/**
 * A full collection on demand in the agent under soak, and its live heap right after, through
 * the agent's own inspector (started with `--inspect=127.0.0.1:0`, so parallel soaks never
 * meet on a port; the soak never starts an inspector on a device).
 *
 * Why: V8 collects the old generation only when it reaches a limit it sizes from the machine,
 * and under the soak's load that first full collection comes after minutes (6–7 with V8's
 * defaults). Until then promoted garbage piles up and RssAnon climbs without any leak, so a
 * short run that judges RssAnon judges V8's schedule, not the agent. What a leak keeps survives
 * every full collection: the heap used right after one, and RssAnon right after one, are the
 * figures that grow with a leak and only with it. Forcing the collection costs the agent a few
 * milliseconds of CPU each time and makes the run's RssAnon a little lower than a device's.
 */
import WebSocket from 'ws';

export interface HeapAfterGc {
  /** V8's used heap right after a full collection: what the agent keeps alive. */
  usedBytes: number;
  /** V8's committed heap at that moment. */
  totalBytes: number;
}

/** The inspector's WebSocket URL from what `node --inspect` printed on stderr; null until then. */
export function inspectorUrl(output: string): string | null {
  return /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1] ?? null;
}

export class HeapProbe {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, (result: unknown) => void>();
  #nextId = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on('message', (data: WebSocket.RawData) => {
      // Bounded by the inspector itself: replies to the two calls below are a few hundred bytes.
      const message = JSON.parse(data.toString()) as { id?: number; result?: unknown };
      if (message.id === undefined) return; // an event: none are enabled
      this.#pending.get(message.id)?.(message.result);
      this.#pending.delete(message.id);
    });
  }

  static async connect(url: string, timeoutMs = 10_000): Promise<HeapProbe> {
    const socket = new WebSocket(url, { maxPayload: 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inspector ${url}: no answer`)), timeoutMs);
      socket.once('open', () => (clearTimeout(timer), resolve()));
      socket.once('error', (error) => (clearTimeout(timer), reject(error)));
    });
    return new HeapProbe(socket);
  }

  /** Runs a full (compacting) collection in the agent, then reads its heap. */
  async collect(timeoutMs = 10_000): Promise<HeapAfterGc> {
    await this.#call('HeapProfiler.collectGarbage', timeoutMs);
    const usage = (await this.#call('Runtime.getHeapUsage', timeoutMs)) as {
      usedSize: number;
      totalSize: number;
    };
    return { usedBytes: usage.usedSize, totalBytes: usage.totalSize };
  }

  close(): void {
    this.#socket.terminate();
  }

  #call(method: string, timeoutMs: number): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`inspector: ${method} unanswered after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, (result) => (clearTimeout(timer), resolve(result)));
      this.#socket.send(JSON.stringify({ id, method }));
    });
  }
}
