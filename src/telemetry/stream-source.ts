import { ErrorCode } from '../protocol/error-codes.js';

/**
 * One telemetry stream's reader. Built-in and custom streams all implement it; the scheduler
 * neither knows nor cares where a number comes from.
 */
export interface StreamSource {
  readonly name: string;
  /**
   * One sample. Synchronous for /proc and /sys (no promise, no child process on the hot path);
   * only the command stream returns a promise. Throws or rejects with a `SampleError`.
   */
  read(): number | Promise<number>;
  /** Delta streams (cpu, network) take a fresh baseline here, so the next read covers from now. */
  prime?(): void;
  /** Releases open files and ends a running command. */
  close(): void;
}

/** A source, or why this device cannot provide the stream (reported once, never as `null`s). */
export type Probe =
  | { ok: true; source: StreamSource; /** what was chosen, for the log */ detail?: string }
  | { ok: false; reason: string };

/** Where the kernel's files are: `/proc` and `/sys`, or a fixture tree, or a host's in a container. */
export interface SystemRoots {
  procRoot: string;
  sysRoot: string;
}

export const SampleErrorCode = {
  readFailed: ErrorCode.telemetryReadFailed,
  timeout: ErrorCode.telemetryTimeout,
} as const;
export type SampleErrorCode = (typeof SampleErrorCode)[keyof typeof SampleErrorCode];

export class SampleError extends Error {
  readonly code: SampleErrorCode;

  constructor(code: SampleErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SampleError';
    this.code = code;
  }
}

/** Builds a source and reads it once: a stream the device cannot provide fails here, once. */
export function probe(create: () => StreamSource): Probe {
  let source: StreamSource | undefined;
  try {
    source = create();
    const first = source.read();
    if (typeof first !== 'number') void first.catch(() => {});
    return { ok: true, source };
  } catch (err) {
    source?.close();
    return { ok: false, reason: (err as Error).message };
  }
}

/** Percentages and rates go out with two decimals: more is noise and costs bytes on cellular. */
export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
