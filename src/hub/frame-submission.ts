import type { Logger } from 'pino';
import { ErrorCode } from '../protocol/error-codes.js';
import type { FrameError, ParsedFrame } from '../protocol/parse.js';

/**
 * A frame an in-process client of the broker (the Command API, the update manager) hands to
 * it, and the refusal the broker answers it with. The broker refuses synchronously, through the
 * link's `refuse`, while it handles the frame: so the link asks `caught` whether a refusal
 * belongs to the frame being submitted, and the submit returns it (or null when it went on). A
 * handler that throws becomes `internal_error`, as a stream client's peer answers it.
 */
export class FrameSubmission {
  readonly #logger: Logger;
  readonly #what: string;
  #refusal: FrameError | null = null;
  #submitting = false;

  /** `what` names the client in log lines: "command API request", "update request". */
  constructor(logger: Logger, what: string) {
    this.#logger = logger;
    this.#what = what;
  }

  submit(frame: ParsedFrame, hand: (frame: ParsedFrame) => void): FrameError | null {
    this.#submitting = true;
    this.#refusal = null;
    try {
      hand(frame);
    } catch (err) {
      this.#logger.error(
        { code: ErrorCode.internalError, err, type: frame.type },
        `${this.#what} failed`,
      );
      this.#refusal = { code: ErrorCode.internalError, message: `${frame.type}: internal error` };
    } finally {
      this.#submitting = false;
    }
    return this.#refusal;
  }

  /**
   * The link's `refuse`: kept for the frame being submitted; one outside a submit (the broker
   * refuses only while it handles a frame) is logged, not lost silently.
   */
  refused(error: FrameError): void {
    if (this.#submitting) {
      this.#refusal ??= error;
      return;
    }
    this.#logger.warn({ code: error.code, type: error.type }, `${this.#what} refused`);
  }
}
