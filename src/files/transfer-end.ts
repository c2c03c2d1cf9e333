import type { ErrorCode } from '../protocol/error-codes.js';

/** How a transfer reports: its replies on the session, and a failure as an `error` frame. */
export interface TransferReplies {
  emit(type: string, payload: Record<string, unknown>): void;
  /** An `error` frame (the hub follows it with the session's `session_done`) and a log line. */
  fail(code: ErrorCode, message: string): void;
}

/** Thrown inside a transfer to end it with this code; anything else is an internal error. */
export class TransferError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'TransferError';
    this.code = code;
  }
}
