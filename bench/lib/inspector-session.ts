/**
 * A small client of the V8 inspector of another Node process (started with `--inspect=…`), for
 * benchmarks that look inside a process they spawned: evaluate an expression, take a heap
 * snapshot. Only the few Chrome DevTools Protocol methods used here.
 */
import { createWriteStream } from 'node:fs';
import WebSocket from 'ws';

interface Reply {
  id?: number;
  method?: string;
  params?: { chunk?: string };
  result?: { result?: { value?: unknown }; exceptionDetails?: unknown };
  error?: { message: string };
}

export class InspectorSession {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, (reply: Reply) => void>();
  #nextId = 0;
  #onChunk: ((chunk: string) => void) | null = null;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data) => {
      const reply = JSON.parse(String(data)) as Reply;
      if (reply.method === 'HeapProfiler.addHeapSnapshotChunk')
        this.#onChunk?.(reply.params?.chunk ?? '');
      else if (reply.id !== undefined) {
        this.#pending.get(reply.id)?.(reply);
        this.#pending.delete(reply.id);
      }
    });
  }

  /** Connects to the `ws://…` address a process prints as "Debugger listening on …". */
  static async connect(url: string): Promise<InspectorSession> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new InspectorSession(ws);
  }

  /** The value of `expression` in the process's main context (JSON-serialisable). */
  async evaluate<T>(expression: string): Promise<T> {
    const reply = await this.#call('Runtime.evaluate', { expression, returnByValue: true });
    if (reply.result?.exceptionDetails)
      throw new Error(`${expression}: ${JSON.stringify(reply.result.exceptionDetails)}`);
    return reply.result?.result?.value as T;
  }

  /** Writes a heap snapshot (V8 collects garbage first) to `path`. */
  async heapSnapshot(path: string): Promise<void> {
    const out = createWriteStream(path);
    this.#onChunk = (chunk) => out.write(chunk);
    try {
      await this.#call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    } finally {
      this.#onChunk = null;
      await new Promise<void>((resolve, reject) =>
        out.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
    }
  }

  close(): void {
    this.#ws.terminate();
  }

  #call(method: string, params: Record<string, unknown>): Promise<Reply> {
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (reply) =>
        reply.error ? reject(new Error(`${method}: ${reply.error.message}`)) : resolve(reply),
      );
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }
}
