import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * pino logs to stdout: JSON lines for machines (journald, pipes, files), human-readable lines
 * when stdout is a terminal (`auto`), or either by choice (`log.format`, the hub's --log-format). Secrets are kept out in two layers: nothing logs a token or key on
 * purpose, and these paths are censored in case an object holding one is ever logged whole.
 * (A pino transport would run in a worker thread, which a single-executable build cannot load;
 * pretty printing therefore runs as a plain synchronous stream. pino-pretty and its dozen
 * modules are loaded only then: an agent logging JSON on a device never holds them.)
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'auth.token',
  'config.auth.token',
  'apiKey',
  'api_key',
  '*.api_key',
  'authorization',
  'Authorization',
  'headers.authorization',
  'headers.Authorization',
  'req.headers.authorization',
  '*.headers.authorization',
  'tls.key',
  'config.tls.key',
];

/** pino's levels, and `silent`: what `log.level` and the hub's --log-level accept. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** `auto`: pretty on a terminal, JSON otherwise. */
export function prettyLogs(format: LogFormat, stdoutIsTty: boolean): boolean {
  return format === 'pretty' || (format === 'auto' && stdoutIsTty);
}

export interface LoggerOptions {
  level: string;
  /** Human-readable lines (a terminal, the demo); JSON otherwise. */
  pretty?: boolean;
  destination?: DestinationStream;
  name?: string;
}

export async function createLogger(options: LoggerOptions): Promise<Logger> {
  const destination =
    options.destination ??
    (options.pretty
      ? (await import('pino-pretty')).default({
          colorize: process.stdout.isTTY ?? false,
          sync: true,
          ignore: 'pid,hostname,status',
        })
      : pino.destination({ fd: 1, sync: true }));
  return pino(
    {
      level: options.level,
      ...(options.name ? { name: options.name } : {}),
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
