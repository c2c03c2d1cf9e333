import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Owner } from './owner.js';

/**
 * What systemd does for the agent's unit, in a test: before every start the update guard
 * (ExecStartPre), then the binary, restarted whenever it exits (Restart=always) except with 78,
 * until the test stops it. Every JSON log line of every start is kept, tagged with the start's
 * number; the guard's lines too.
 */
export const GUARD_PATH = new URL('../../systemd/iottly-agent-update-guard', import.meta.url)
  .pathname;

export interface SupervisedLine {
  start: number;
  msg: string;
  [key: string]: unknown;
}

export class UpdateSupervisor {
  readonly lines: SupervisedLine[] = [];
  readonly exits: Array<{ start: number; code: number | null; signal: string | null }> = [];
  readonly #binary: string;
  readonly #env: Record<string, string>;
  #child: ChildProcess | null = null;
  #stopped = false;
  #starts = 0;
  #waiters = new Set<{ p: (l: SupervisedLine) => boolean; r: (l: SupervisedLine) => void }>();
  #done: Promise<void> = Promise.resolve();

  constructor(owner: Owner, binary: string, env: Record<string, string>) {
    this.#binary = binary;
    this.#env = env;
    owner.after(() => this.stop());
  }

  get starts(): number {
    return this.#starts;
  }

  start(): void {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      this.#starts += 1;
      const start = this.#starts;
      const guard = spawnSync('sh', [GUARD_PATH, this.#binary], { encoding: 'utf8' });
      for (const msg of guard.stderr.split('\n').filter(Boolean)) this.#push({ start, msg });
      const child = spawn(this.#binary, ['run'], {
        env: { PATH: process.env.PATH ?? '', ...this.#env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.#child = child;
      let partial = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        partial += chunk.toString('utf8');
        let nl: number;
        while ((nl = partial.indexOf('\n')) >= 0) {
          const raw = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          try {
            this.#push({ ...(JSON.parse(raw) as { msg: string }), start });
          } catch {
            this.#push({ start, msg: raw });
          }
        }
      });
      child.stderr?.on('data', (chunk: Buffer) =>
        this.#push({ start, msg: `stderr: ${chunk.toString('utf8').trim()}` }),
      );
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
      this.#child = null;
      this.exits.push({ start, code, signal });
      this.#push({ start, msg: `exited with ${code ?? signal}` });
      if (code === 78 || this.#starts > 30) break;
      // RestartSec, shortened.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  #push(line: SupervisedLine): void {
    this.lines.push(line);
    for (const waiter of this.#waiters)
      if (waiter.p(line)) {
        this.#waiters.delete(waiter);
        waiter.r(line);
      }
  }

  waitFor(p: (line: SupervisedLine) => boolean, timeoutMs = 30_000): Promise<SupervisedLine> {
    const seen = this.lines.find(p);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        p,
        r: (l: SupervisedLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(
          new Error(
            `no such log line in ${timeoutMs} ms; last: ${JSON.stringify(this.lines.slice(-8).map((l) => `${l.start}: ${l.msg}`))}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.kill('SIGTERM');
      await once(child, 'exit').catch(() => {});
      clearTimeout(kill);
    }
    await this.#done;
  }

  /** The log, one line each (those `only` matches), for a failing assertion or a report. */
  transcript(only?: RegExp): string {
    return this.lines
      .map((l) => `[start ${l.start}] ${l.msg}${l.code ? ` (${String(l.code)})` : ''}`)
      .filter((line) => only === undefined || only.test(line))
      .join('\n');
  }
}
