import type { OutputFd } from '../../process/coalescer.js';
import {
  shellArgv,
  type CommandResult,
  type CommandRunner,
  type RunningCommand,
} from '../../process/runner.js';
import { SampleError, SampleErrorCode, type StreamSource } from '../stream-source.js';

/**
 * A custom `{ name, command, timeoutMs }` stream: the first number on the stdout of a shell
 * command, for sensors that only a vendor tool reads (`vcgencmd measure_temp` prints
 * `temp=48.3'C`, which gives 48.3).
 *
 * The only stream that starts a process, so it runs on the command machinery (src/process/)
 * and has its bounds: a process group of its own, SIGTERM to the group at `timeoutMs` and
 * SIGKILL `graceMs` later, capped output, and nothing of the group left running when a read
 * settles. A second read while one runs is refused, so the command never overlaps itself.
 */
export interface CommandSourceOptions {
  name: string;
  command: string;
  timeoutMs: number;
  runner: CommandRunner;
  /** The environment the command runs with (the agent's without its settings: childBaseEnv). */
  env: Readonly<Record<string, string>>;
  graceMs?: number;
  maxOutputBytes?: number;
}

const DEFAULT_GRACE_MS = 1_000;
const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;
/** How much of stderr an error message quotes. */
const STDERR_DETAIL_CHARS = 200;
const NUMBER = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/;

export class CommandSource implements StreamSource {
  readonly name: string;
  readonly #o: CommandSourceOptions;
  #running: RunningCommand | null = null;

  constructor(options: CommandSourceOptions) {
    this.name = options.name;
    this.#o = options;
  }

  get running(): boolean {
    return this.#running !== null;
  }

  async read(): Promise<number> {
    if (this.#running) {
      throw new SampleError(
        SampleErrorCode.readFailed,
        `${this.name}: the command is still running`,
      );
    }
    const output: Record<OutputFd, Buffer[]> = { stdout: [], stderr: [] };
    const running = this.#o.runner.start(
      {
        argv: shellArgv(this.#o.command),
        env: this.#o.env,
        timeoutMs: this.#o.timeoutMs,
        maxOutputBytes: this.#o.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
        killGraceMs: this.#o.graceMs ?? DEFAULT_GRACE_MS,
      },
      (fd, bytes) => output[fd].push(bytes),
    );
    this.#running = running;
    try {
      const result = await running.result;
      return this.#value(result, text(output.stdout), text(output.stderr));
    } finally {
      this.#running = null;
    }
  }

  close(): void {
    this.#running?.cancel(0);
  }

  #value(result: CommandResult, stdout: string, stderr: string): number {
    const { command, timeoutMs } = this.#o;
    if (result.error) this.#fail(SampleErrorCode.readFailed, `cannot run: ${result.error.message}`);
    if (result.truncated) {
      const cap = this.#o.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
      this.#fail(SampleErrorCode.readFailed, `"${command}" printed more than ${cap} bytes`);
    }
    if (result.timedOut) {
      this.#fail(
        SampleErrorCode.timeout,
        `"${command}" did not finish within ${timeoutMs} ms and was killed`,
      );
    }
    if (result.exitCode !== 0) {
      const detail = stderr.trim().slice(0, STDERR_DETAIL_CHARS);
      const how = result.signal ? `died of ${result.signal}` : `exited with ${result.exitCode}`;
      this.#fail(SampleErrorCode.readFailed, `"${command}" ${how}${detail ? `: ${detail}` : ''}`);
    }
    const match = NUMBER.exec(stdout);
    if (!match) this.#fail(SampleErrorCode.readFailed, `"${command}" printed no number`);
    return Number(match[0]);
  }

  #fail(code: SampleErrorCode, text: string): never {
    throw new SampleError(code, `${this.name}: ${text}`);
  }
}

function text(chunks: Buffer[]): string {
  return Buffer.concat(chunks).toString('utf8');
}
