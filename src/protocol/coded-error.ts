/**
 * An error with a stable `code` (one of ErrorCode or LogCode, which README lists; an errno name
 * passed on; `usage` for a command-line mistake, exit 64), for failures that callers answer or
 * log by code. Subclasses only name the area the error comes from.
 */
export class CodedError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
