import type { Logger } from 'pino';
import { ExitCode } from './exit-codes.js';
import { LogCode } from '../log/log-codes.js';

/**
 * The last resort for an error nothing caught (an uncaught exception, an unhandled rejection).
 * Node's own default exits 1 and leaves every command's process group running, with its
 * client never answered. Here the error is logged as fatal, whatever would outlive the process
 * is ended synchronously (there is no event loop left to trust), and the process exits 70 as
 * README's exit-code table says, so that systemd restarts it.
 */
export type FatalProcess = Pick<NodeJS.Process, 'on' | 'off' | 'exit'>;

export interface FatalHandlerOptions {
  logger: Logger;
  /** Ends at once what would outlive the process; returns how many things it ended. */
  abort: () => number;
  process?: FatalProcess;
}

/** Installs the handlers; the returned function removes them. */
export function exitOnFatalError(options: FatalHandlerOptions): () => void {
  const proc = options.process ?? process;
  let exiting = false;
  const handler =
    (what: string) =>
    (err: unknown): void => {
      // A second error while the first is handled (abort itself failing) must not recurse.
      if (exiting) return;
      exiting = true;
      let commandsKilled: number | null = null;
      try {
        commandsKilled = options.abort();
      } catch (abortErr) {
        options.logger.error({ err: abortErr }, 'could not end every running command');
      }
      try {
        options.logger.fatal(
          { code: LogCode.fatalError, err, commandsKilled },
          `${what}: ${err instanceof Error ? err.message : String(err)}; exiting with 70`,
        );
      } finally {
        proc.exit(ExitCode.software);
      }
    };
  const onException = handler('uncaught exception');
  const onRejection = handler('unhandled rejection');
  proc.on('uncaughtException', onException);
  proc.on('unhandledRejection', onRejection);
  return () => {
    proc.off('uncaughtException', onException);
    proc.off('unhandledRejection', onRejection);
  };
}
