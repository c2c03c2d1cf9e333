import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { Clock, TimerHandle } from '../../time/clock.js';
import { SampleError, SampleErrorCode, type StreamSource } from '../stream-source.js';

/**
 * A custom `{ name, command, timeoutMs }` stream: the first number on the stdout of a shell
 * command, for sensors that only a vendor tool reads (`vcgencmd measure_temp` prints
 * `temp=48.3'C`, which gives 48.3).
 *
 * The only stream that starts a process, so it is bounded: it runs in its own process group,
 * gets SIGTERM at `timeoutMs` and SIGKILL `graceMs` later, and its output is capped. A read
 * settles only when the process has exited, and a second read while one runs is refused, so
 * the command never overlaps itself.
 */
export type SpawnFunction = (
  command: string,
  args: readonly string[],
  options: SpawnOptions,
) => ChildProcess;

export interface CommandSourceOptions {
  name: string;
  command: string;
  timeoutMs: number;
  clock: Clock;
  spawn?: SpawnFunction;
  /** Signals a process group (a negative pid); process.kill by default. */
  kill?: (pid: number, signal: NodeJS.Signals) => void;
  graceMs?: number;
  maxOutputBytes?: number;
}

const DEFAULT_GRACE_MS = 1_000;
const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;
const NUMBER = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/;

export class CommandSource implements StreamSource {
  readonly name: string;
  readonly #o: Required<CommandSourceOptions>;
  #running: ChildProcess | null = null;

  constructor(options: CommandSourceOptions) {
    this.name = options.name;
    this.#o = {
      spawn: nodeSpawn,
      kill: (pid, signal) => process.kill(pid, signal),
      graceMs: DEFAULT_GRACE_MS,
      maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES,
      ...options,
    };
  }

  get running(): boolean {
    return this.#running !== null;
  }

  read(): Promise<number> {
    if (this.#running) {
      return Promise.reject(
        new SampleError(SampleErrorCode.readFailed, `${this.name}: the command is still running`),
      );
    }
    const { command, timeoutMs, clock, graceMs, maxOutputBytes } = this.#o;
    return new Promise<number>((resolve, reject) => {
      const child = this.#o.spawn('/bin/sh', ['-c', command], {
        detached: true, // its own process group, so a timeout kills the whole pipeline
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.#running = child;
      let stdout = '';
      let stderr = '';
      let outcome: 'timeout' | 'too_much_output' | null = null;
      let graceTimer: TimerHandle | null = null;
      let settled = false;

      const stop = (why: 'timeout' | 'too_much_output'): void => {
        if (outcome) return;
        outcome = why;
        this.#signal(child, 'SIGTERM');
        graceTimer = clock.setTimeout(() => this.#signal(child, 'SIGKILL'), graceMs);
      };
      const timer = clock.setTimeout(() => stop('timeout'), timeoutMs);
      const settle = (error: SampleError | null, value = 0): void => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        if (graceTimer) clock.clearTimeout(graceTimer);
        this.#running = null;
        if (error) reject(error);
        else resolve(value);
      };
      const fail = (code: SampleErrorCode, text: string): void =>
        settle(new SampleError(code, `${this.name}: ${text}`));

      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.length > maxOutputBytes) stop('too_much_output');
      });
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        if (stderr.length < 500) stderr += chunk;
      });
      child.once('error', (err) => fail(SampleErrorCode.readFailed, `cannot run: ${err.message}`));
      child.once('close', (code, signal) => {
        if (outcome === 'timeout') {
          fail(
            SampleErrorCode.timeout,
            `"${command}" did not finish within ${timeoutMs} ms and was killed`,
          );
        } else if (outcome === 'too_much_output') {
          fail(
            SampleErrorCode.readFailed,
            `"${command}" printed more than ${maxOutputBytes} bytes`,
          );
        } else if (code !== 0) {
          const detail = stderr.trim().slice(0, 200);
          fail(
            SampleErrorCode.readFailed,
            `"${command}" ${signal ? `died of ${signal}` : `exited with ${code}`}${detail ? `: ${detail}` : ''}`,
          );
        } else {
          const match = NUMBER.exec(stdout);
          if (match) settle(null, Number(match[0]));
          else fail(SampleErrorCode.readFailed, `"${command}" printed no number`);
        }
      });
    });
  }

  close(): void {
    if (this.#running) this.#signal(this.#running, 'SIGKILL');
  }

  #signal(child: ChildProcess, signal: NodeJS.Signals): void {
    // The shell may have exited while a process it started still holds the pipe: signal the
    // group whenever the read is unsettled, not only while the shell lives.
    if (child.pid === undefined) return;
    try {
      this.#o.kill(-child.pid, signal);
    } catch {
      // The group is already gone.
    }
  }
}
