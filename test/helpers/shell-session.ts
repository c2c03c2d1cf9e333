import {
  ByteFd,
  ByteKind,
  decodeByteFrame,
  encodeByteFrame,
} from '../../src/protocol/byte-frame.js';
import { DEVICE_ID, type Frame, type Peer } from './ws.js';

/** A generous deadline for what a shell shows: bash starting on a loaded CI machine is slow. */
const EVENT_WAIT_MS = 15_000;

/**
 * A shell session seen from a `/v1/stream` client: opens it, types into it, and keeps the
 * terminal's output so that a test can wait for text on the screen. With a `stream` number the
 * session's bytes travel as binary frames both ways; without, as JSON base64.
 */
export class ShellSessionClient {
  readonly requestId: string;
  readonly stream: number | undefined;
  /** `session_output` frames received (none when the session's bytes travel as binary frames). */
  jsonOutputs = 0;
  readonly #client: Peer;
  #output = Buffer.alloc(0);
  #done: Frame | null = null;
  readonly #waiters = new Set<() => void>();

  constructor(client: Peer, requestId: string, stream?: number) {
    this.#client = client;
    this.requestId = requestId;
    this.stream = stream;
    client.ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const decoded = decodeByteFrame(data as Buffer);
        if (!decoded.ok || decoded.frame.stream !== stream) return;
        this.#output = Buffer.concat([this.#output, decoded.frame.data]);
        for (const waiter of this.#waiters) waiter();
        return;
      }
      const frame = JSON.parse(data.toString()) as Frame;
      if (frame.request_id !== requestId) return;
      if (frame.type === 'session_output') {
        this.jsonOutputs++;
        const bytes = Buffer.from(frame.payload.data as string, 'base64');
        this.#output = Buffer.concat([this.#output, bytes]);
      } else if (frame.type === 'session_done') this.#done = frame;
      for (const waiter of this.#waiters) waiter();
    });
  }

  /** Sends `session_open` for this session on DEVICE_ID. */
  open(payload: Record<string, unknown>): void {
    this.#client.send({
      type: 'session_open',
      request_id: this.requestId,
      payload: {
        device_id: DEVICE_ID,
        ...(this.stream !== undefined ? { stream: this.stream } : {}),
        ...payload,
      },
    });
  }

  type(text: string | Buffer): void {
    if (this.stream !== undefined) {
      const data = Buffer.from(text);
      this.#client.ws.send(
        encodeByteFrame({
          kind: ByteKind.data,
          stream: this.stream,
          fd: ByteFd.stdin,
          seq: 0,
          data,
        }),
      );
      return;
    }
    this.#client.send({
      type: 'session_input',
      request_id: this.requestId,
      payload: { data: Buffer.from(text).toString('base64') },
    });
  }

  resize(rows: number, cols: number): void {
    this.#client.send({
      type: 'session_resize',
      request_id: this.requestId,
      payload: { rows, cols },
    });
  }

  close(): void {
    this.#client.send({ type: 'session_close', request_id: this.requestId, payload: {} });
  }

  /** Everything the terminal showed so far. */
  get screen(): string {
    return this.#output.toString('utf8');
  }

  /** Resolves when the output holds a match of `pattern`; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs = EVENT_WAIT_MS): Promise<RegExpMatchArray> {
    return this.#until(() => this.screen.match(pattern), timeoutMs, `output matching ${pattern}`);
  }

  /** The session's `session_done`. */
  done(timeoutMs = EVENT_WAIT_MS): Promise<Frame> {
    return this.#until(() => this.#done, timeoutMs, 'session_done');
  }

  #until<T>(check: () => T | null, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = (): boolean => {
        const value = check();
        if (value === null) return false;
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve(value);
        return true;
      };
      const waiter = (): void => void attempt();
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(
          new Error(
            `no ${what} within ${timeoutMs} ms; screen: ${JSON.stringify(this.screen.slice(-500))}`,
          ),
        );
      }, timeoutMs);
      if (attempt()) return;
      this.#waiters.add(waiter);
    });
  }
}
