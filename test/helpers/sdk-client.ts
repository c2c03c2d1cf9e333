import { createConnection, type Socket } from 'node:net';

/**
 * A device app speaking the iottly SDK wire protocol, written from shared/iottly-sdk-wire.md
 * alone (it encodes and decodes by hand, not with the agent's own wire code): newline-delimited
 * JSON over the Unix socket, the `sdkclient` signals, `data` lines, and a reconnect every 0.2 s
 * while the socket is absent, as the SDK does.
 */
export const SDK_RECONNECT_MS = 200;

export type WireLine = Record<string, unknown> & {
  signal?: Record<string, unknown>;
  data?: Record<string, unknown>;
};

export class SdkClient {
  readonly name: string;
  readonly socket: Socket;
  readonly lines: WireLine[] = [];
  readonly closed: Promise<void>;
  #partial = '';
  #waiters = new Set<{ match: (l: WireLine) => boolean; resolve: (l: WireLine) => void }>();

  private constructor(name: string, socket: Socket) {
    this.name = name;
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.#onText(text));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Connects (retrying every 0.2 s for up to `timeoutMs`) and sends the connect signal. */
  static async connect(path: string, name: string, timeoutMs = 5_000): Promise<SdkClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await open(path);
        const client = new SdkClient(name, socket);
        client.send({ signal: { sdkclient: { name, status: 'connected', version: '1.3.0' } } });
        return client;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, SDK_RECONNECT_MS));
      }
    }
  }

  send(message: unknown): void {
    this.raw(`${JSON.stringify(message)}\n`);
  }

  raw(text: string | Buffer): void {
    this.socket.write(text);
  }

  sendData(payload: Record<string, unknown>, channel?: string): void {
    const data: Record<string, unknown> = { sdkclient: { name: this.name }, payload };
    if (channel !== undefined) data.channel = channel;
    this.send({ data });
  }

  sendError(type: string, msg: string): void {
    this.send({ signal: { sdkclient: { name: this.name, error: { type, msg } } } });
  }

  callAgent(cmd: string, args: Record<string, unknown>): void {
    this.send({ signal: { sdkclient: { name: this.name, call: { [cmd]: args } } } });
  }

  /** The first received line (already here or still to come) that matches; taken out. */
  next(match: (line: WireLine) => boolean, timeoutMs = 5_000): Promise<WireLine> {
    const index = this.lines.findIndex(match);
    if (index >= 0) return Promise.resolve(this.lines.splice(index, 1)[0] as WireLine);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (line: WireLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`${this.name}: no matching line within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** The sdkinit version, then the first connectionstatus, as an app sees them after connecting. */
  async handshake(): Promise<{ version: unknown; connection: unknown }> {
    const init = await this.next((l) => l.signal?.sdkinit !== undefined);
    const status = await this.next((l) => l.signal?.connectionstatus !== undefined);
    return {
      version: (init.signal?.sdkinit as { version?: unknown }).version,
      connection: status.signal?.connectionstatus,
    };
  }

  close(): Promise<void> {
    this.socket.end();
    return this.closed;
  }

  #onText(text: string): void {
    this.#partial += text;
    let nl: number;
    while ((nl = this.#partial.indexOf('\n')) >= 0) {
      const raw = this.#partial.slice(0, nl);
      this.#partial = this.#partial.slice(nl + 1);
      let line: WireLine;
      try {
        line = JSON.parse(raw) as WireLine;
      } catch {
        continue; // the SDK skips what is not JSON
      }
      const waiter = [...this.#waiters].find((w) => w.match(line));
      if (waiter) {
        this.#waiters.delete(waiter);
        waiter.resolve(line);
      } else this.lines.push(line);
    }
  }
}

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** SDK versions are strict MAJOR.MINOR.PATCH; call_agent needs >= 1.8.0. */
export function allowsCallAgent(version: unknown): boolean {
  const match = typeof version === 'string' ? /^(\d+)\.(\d+)\.(\d+)$/.exec(version) : null;
  if (!match) return false;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > 1 || (major === 1 && minor >= 8);
}
