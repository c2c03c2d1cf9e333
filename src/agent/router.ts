import { ErrorCode } from '../protocol/error-codes.js';
import {
  parseFrame,
  type FrameError,
  type ParsedFrame,
  type ValidatorSet,
} from '../protocol/parse.js';
import type { Validator } from '../protocol/schema.js';
import { decodeByteFrame, type ByteFrame } from '../protocol/byte-frame.js';

/**
 * Incoming frames: validated once, then dispatched by `type` to one handler.
 * A frame that fails validation, has no handler, or whose handler throws becomes a FrameError for
 * the caller to answer; nothing a peer sends can throw out of `dispatch`.
 *
 * Binary frames (raw bytes) are dispatched by their `stream` number to the handler a feature
 * opened for it (`openStream`, when the JSON that opened the request named the number). A frame
 * for a stream no one holds is dropped: it can only be a late one for a request that has ended.
 */
export type Handler<P> = (payload: P, frame: ParsedFrame) => void | Promise<void>;
export type BytesHandler = (frame: ByteFrame) => void;

export class Router {
  readonly #validators: ValidatorSet = {};
  readonly #handlers = new Map<string, Handler<Record<string, unknown>>>();
  readonly #onError: (error: FrameError) => void;
  readonly #streams = new Map<number, BytesHandler>();

  constructor(onError: (error: FrameError) => void) {
    this.#onError = onError;
  }

  register<P extends Record<string, unknown>>(
    type: string,
    validate: Validator<P>,
    handler: Handler<P>,
  ): void {
    if (this.#handlers.has(type)) throw new Error(`a handler for "${type}" is already registered`);
    this.#validators[type] = validate;
    this.#handlers.set(type, handler as Handler<Record<string, unknown>>);
  }

  /**
   * Routes the binary frames of `stream` to `handler` until the returned function is called.
   * Throws if the number is taken (the hub gives each request its own).
   */
  openStream(stream: number, handler: BytesHandler): () => void {
    if (this.#streams.has(stream)) throw new Error(`byte stream ${stream} is already open`);
    this.#streams.set(stream, handler);
    return () => {
      if (this.#streams.get(stream) === handler) this.#streams.delete(stream);
    };
  }

  /** Whether a handler holds `stream` (a request that names a taken number is refused). */
  hasStream(stream: number): boolean {
    return this.#streams.has(stream);
  }

  dispatchBytes(data: Uint8Array): void {
    const result = decodeByteFrame(data);
    if (!result.ok) {
      this.#onError({ code: result.error.code, message: result.error.message });
      return;
    }
    const handler = this.#streams.get(result.frame.stream);
    if (!handler) return;
    try {
      handler(result.frame);
    } catch (err) {
      this.#onError({
        code: ErrorCode.internalError,
        message: `byte stream ${result.frame.stream}: ${(err as Error)?.message ?? String(err)}`,
      });
    }
  }

  dispatch(text: string): void {
    const result = parseFrame(text, this.#validators);
    if (!result.ok) {
      this.#onError(result.error);
      return;
    }
    const { frame } = result;
    const handler = this.#handlers.get(frame.type) as Handler<Record<string, unknown>>;
    const fail = (err: unknown): void => {
      const error: FrameError = {
        code: ErrorCode.internalError,
        message: `${frame.type}: ${(err as Error)?.message ?? String(err)}`,
        type: frame.type,
      };
      if (frame.request_id !== undefined) error.request_id = frame.request_id;
      this.#onError(error);
    };
    try {
      const pending = handler(frame.payload, frame);
      if (pending) pending.catch(fail);
    } catch (err) {
      fail(err);
    }
  }
}
