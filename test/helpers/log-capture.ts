import { pino, type Logger } from 'pino';

/** A pino logger whose JSON lines a test can read back. */
export interface CapturedLog {
  logger: Logger;
  lines: Array<{ level: number; msg: string; code?: string; [key: string]: unknown }>;
  codes(): string[];
}

export function captureLog(level = 'debug'): CapturedLog {
  const lines: CapturedLog['lines'] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines, codes: () => lines.flatMap((l) => (l.code ? [l.code] : [])) };
}
