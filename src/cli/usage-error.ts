/** A command line that cannot be understood: exit code 64 (EX_USAGE) with a one-line reason. */
export class UsageError extends Error {
  readonly code = 'usage';

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
