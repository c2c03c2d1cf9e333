/**
 * An error with a stable `code` (one of ErrorCode, or a code the README lists), for failures
 * that callers answer or log by code. Subclasses only name the area the error comes from.
 */
export class CodedError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
