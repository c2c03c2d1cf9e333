import { ErrorCode } from '../protocol/error-codes.js';
import {
  parseFrame,
  type FrameError,
  type ParsedFrame,
  type ValidatorSet,
} from '../protocol/parse.js';
import type { Validator } from '../protocol/schema.js';

/**
 * Incoming frames: validated once, then dispatched by `type` to one handler.
 * A frame that fails validation, has no handler, or whose handler throws becomes a FrameError for
 * the caller to answer; nothing a peer sends can throw out of `dispatch`.
 */
export type Handler<P> = (payload: P, frame: ParsedFrame) => void | Promise<void>;

export class Router {
  readonly #validators: ValidatorSet = {};
  readonly #handlers = new Map<string, Handler<Record<string, unknown>>>();
  readonly #onError: (error: FrameError) => void;

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
