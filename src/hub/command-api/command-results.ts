import { isoNow, type Clock, type TimerHandle } from '../../time/clock.js';
import { OutputBuffer } from './output-buffer.js';

/**
 * What the Command API keeps of each command it forwarded: the output as it comes, then how it
 * ended (the `command_done` or `app_command_done` payload, or the error that ended it), until a
 * client reads it by id. Bounded three ways, because a backend that never reads its results
 * must not grow the hub:
 *
 * - count: at most `maxResults` entries; a new one first evicts the oldest ended one;
 * - bytes: output and endings together at most `maxBytes`; the oldest ended results go first,
 *   and while only running commands are left, output past the bound is dropped (`output_clipped`);
 *   a command's ending is made room for from its own output if need be. (An ending is one device
 *   frame, so a device that sends a huge `command_done` and no output can pass the bound by at
 *   most one frame, MAX_FRAME_BYTES, until the next result evicts it.)
 * - time: an ended result is kept `ttlMs` after its end, then forgotten (404 like an unknown id).
 *
 * Each command keeps at most `maxOutputBytes` of output (stdout and stderr together; the agent's
 * own cap, `commands.maxOutputBytes`, ends the command, this one only stops keeping). A running
 * command is never evicted or expired: the broker ends every forwarded request (its device ends
 * it, or `device_offline` / `request_lost` when the device goes), and the broker's per-client
 * request limit bounds how many run.
 *
 * Lifecycle of an entry: open ─output*─▶ ended ─(ttl, or evicted)─▶ gone.
 */
export interface CommandResultLimits {
  maxResults: number;
  maxBytes: number;
  ttlMs: number;
  maxOutputBytes: number;
}

/** Results the hub keeps at once. */
export const DEFAULT_MAX_COMMAND_RESULTS = 1000;
/** Bytes of output and endings the hub keeps for the Command API, all results together. */
export const DEFAULT_MAX_COMMAND_RESULT_BYTES = 64 * 1024 * 1024;
/** How long an ended result can still be read. */
export const DEFAULT_COMMAND_RESULT_TTL_MS = 15 * 60_000;
/** Output kept per command, stdout and stderr together. */
export const DEFAULT_MAX_COMMAND_OUTPUT_BYTES = 1024 * 1024;

export const DEFAULT_COMMAND_RESULT_LIMITS: CommandResultLimits = {
  maxResults: DEFAULT_MAX_COMMAND_RESULTS,
  maxBytes: DEFAULT_MAX_COMMAND_RESULT_BYTES,
  ttlMs: DEFAULT_COMMAND_RESULT_TTL_MS,
  maxOutputBytes: DEFAULT_MAX_COMMAND_OUTPUT_BYTES,
};

/**
 * What an entry costs beyond its output and ending: the entry, its ids and times, the two output
 * buffers, the waiters' set, the map slot, and the ending as an object rather than its JSON.
 * Measured: 1,000 ended results of 5 bytes of output took 1.15 MiB of heap after a full
 * collection, where this figure said 256 bytes each. So the byte bound counts them as they are.
 */
export const ENTRY_OVERHEAD_BYTES = 1024;

export type CommandKind = 'command' | 'app_command';
export type OutputFd = 'stdout' | 'stderr';

/** A result as REST shows it and webhooks carry it. */
export interface CommandResultView {
  request_id: string;
  device_id: string;
  type: CommandKind;
  state: 'running' | 'done';
  created_at: string;
  done_at: string | null;
  /** null while running; then the ending's payload, for a command with its stdout and stderr. */
  result: Record<string, unknown> | null;
}

/** Hears each result as it ends; `waited` says whether an HTTP request was waiting for it. */
export type ResultEndListener = (view: CommandResultView, waited: boolean) => void;

export interface CommandResultsOptions {
  clock: Clock;
  limits: CommandResultLimits;
  onEnd: ResultEndListener;
}

interface Entry {
  id: string;
  deviceId: string;
  kind: CommandKind;
  createdAt: string;
  /** Each in memory of its own, never a slice of Node's pool (see OutputBuffer). */
  output: Record<OutputFd, OutputBuffer>;
  outputBytes: number;
  clipped: boolean;
  ending: Record<string, unknown> | null;
  endingBytes: number;
  endedAt: number | null;
  doneAt: string | null;
  waiters: Set<() => void>;
}

export class CommandResults {
  readonly #o: CommandResultsOptions;
  /** In creation order: the first ended entry met is the oldest. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(options: CommandResultsOptions) {
    this.#o = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Bytes held now (output, endings and a fixed cost per entry). */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Bytes of memory the kept output occupies (the buffers' capacity): at most twice the output
   * counted in `bytes` while commands run, exactly it once they ended. For tests and diagnostics.
   */
  get outputCapacity(): number {
    let total = 0;
    for (const entry of this.#entries.values())
      total += entry.output.stdout.capacity + entry.output.stderr.capacity;
    return total;
  }

  has(id: string): boolean {
    this.#expire();
    return this.#entries.has(id);
  }

  kind(id: string): CommandKind | undefined {
    return this.#entries.get(id)?.kind;
  }

  /** A new running entry; false when `maxResults` commands are all still running. */
  open(id: string, deviceId: string, kind: CommandKind): boolean {
    this.#expire();
    while (this.#entries.size >= this.#o.limits.maxResults) {
      if (!this.#evictOldestEnded()) return false;
    }
    this.#entries.set(id, {
      id,
      deviceId,
      kind,
      createdAt: isoNow(this.#o.clock),
      output: {
        stdout: new OutputBuffer(this.#o.limits.maxOutputBytes),
        stderr: new OutputBuffer(this.#o.limits.maxOutputBytes),
      },
      outputBytes: 0,
      clipped: false,
      ending: null,
      endingBytes: 0,
      endedAt: null,
      doneAt: null,
      waiters: new Set(),
    });
    this.#bytes += ENTRY_OVERHEAD_BYTES;
    this.#makeRoom();
    return true;
  }

  /** Forgets an entry whose request the broker refused (it never ran). */
  discard(id: string): void {
    const entry = this.#entries.get(id);
    if (entry) this.#remove(entry);
  }

  /** Output of a running command; what passes a bound is dropped and the result says so. */
  output(id: string, fd: OutputFd, bytes: Buffer): void {
    const entry = this.#entries.get(id);
    if (!entry || entry.endedAt !== null || bytes.length === 0) return;
    this.#bytes += bytes.length; // counted first, so that eviction sees what it must make room for
    this.#makeRoom();
    const room = Math.min(
      this.#o.limits.maxOutputBytes - entry.outputBytes,
      bytes.length - Math.max(0, this.#bytes - this.#o.limits.maxBytes),
    );
    const kept = room >= bytes.length ? bytes : bytes.subarray(0, Math.max(0, room));
    this.#bytes -= bytes.length - kept.length;
    if (kept.length < bytes.length) entry.clipped = true;
    if (kept.length === 0) return;
    entry.output[fd].append(kept);
    entry.outputBytes += kept.length;
  }

  /** The command ended with `payload` (its done, or `{ error }`); later endings are ignored. */
  end(id: string, payload: Record<string, unknown>): void {
    const entry = this.#entries.get(id);
    if (!entry || entry.endedAt !== null) return;
    entry.ending = payload;
    entry.endingBytes = Buffer.byteLength(JSON.stringify(payload));
    entry.endedAt = this.#o.clock.now();
    entry.doneAt = isoNow(this.#o.clock);
    this.#bytes += entry.endingBytes;
    // The result that has just ended is the one a client is about to read: room is made from
    // older results, then from its own output's tail.
    this.#makeRoom(entry);
    this.#trimOutput(entry, this.#bytes - this.#o.limits.maxBytes);
    entry.output.stdout.seal();
    entry.output.stderr.seal();
    const waited = entry.waiters.size > 0;
    for (const wake of [...entry.waiters]) wake();
    this.#o.onEnd(view(entry), waited);
  }

  get(id: string): CommandResultView | undefined {
    this.#expire();
    const entry = this.#entries.get(id);
    return entry ? view(entry) : undefined;
  }

  /**
   * Resolves with the result once it has ended, or as it is when `timeoutMs` passes or `signal`
   * aborts (the HTTP client went away); undefined for an id the store does not hold. While it
   * waits, the result counts as waited for (no webhook gets it, see `onEnd`).
   */
  async waitForEnd(
    id: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<CommandResultView | undefined> {
    const entry = this.#entries.get(id);
    if (!entry || entry.endedAt !== null || timeoutMs <= 0 || signal?.aborted) return this.get(id);
    await new Promise<void>((resolve) => {
      let timer: TimerHandle | null = null;
      const wake = (): void => {
        entry.waiters.delete(wake);
        if (timer) this.#o.clock.clearTimeout(timer);
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      entry.waiters.add(wake);
      timer = this.#o.clock.setTimeout(wake, timeoutMs);
      timer.unref?.();
      signal?.addEventListener('abort', wake, { once: true });
    });
    // Evicted or expired while it waited: gone, as for an id never issued.
    return this.#entries.get(id) === entry ? view(entry) : undefined;
  }

  #makeRoom(keep?: Entry): void {
    while (this.#bytes > this.#o.limits.maxBytes) {
      if (!this.#evictOldestEnded(keep)) return;
    }
  }

  #evictOldestEnded(keep?: Entry): boolean {
    for (const entry of this.#entries.values()) {
      if (entry.endedAt === null || entry === keep) continue;
      this.#remove(entry);
      return true;
    }
    return false;
  }

  /** Drops up to `excess` bytes from the end of the entry's output (stderr's first). */
  #trimOutput(entry: Entry, excess: number): void {
    for (const fd of ['stderr', 'stdout'] as const) {
      const output = entry.output[fd];
      const cut = Math.min(Math.max(0, excess), output.length);
      if (cut === 0) continue;
      output.truncate(output.length - cut);
      entry.outputBytes -= cut;
      this.#bytes -= cut;
      excess -= cut;
      entry.clipped = true;
    }
  }

  #expire(): void {
    const oldest = this.#o.clock.now() - this.#o.limits.ttlMs;
    for (const entry of [...this.#entries.values()]) {
      if (entry.endedAt !== null && entry.endedAt <= oldest) this.#remove(entry);
    }
  }

  #remove(entry: Entry): void {
    this.#entries.delete(entry.id);
    this.#bytes -= ENTRY_OVERHEAD_BYTES + entry.outputBytes + entry.endingBytes;
    for (const wake of [...entry.waiters]) wake();
  }
}

function view(entry: Entry): CommandResultView {
  return {
    request_id: entry.id,
    device_id: entry.deviceId,
    type: entry.kind,
    state: entry.ending === null ? 'running' : 'done',
    created_at: entry.createdAt,
    done_at: entry.doneAt,
    result: entry.ending === null ? null : resultOf(entry, entry.ending),
  };
}

/**
 * The ending's payload; a command's with its output, per fd as UTF-8 text, or base64 (and
 * `<fd>_encoding: "base64"`) when the bytes are not valid UTF-8 (also when a bound cut a
 * character in two).
 */
function resultOf(entry: Entry, ending: Record<string, unknown>): Record<string, unknown> {
  if (entry.kind !== 'command') return { ...ending };
  const result: Record<string, unknown> = { ...ending };
  for (const fd of ['stdout', 'stderr'] as const) {
    const bytes = entry.output[fd].bytes();
    const text = utf8OrNull(bytes);
    result[fd] = text ?? bytes.toString('base64');
    if (text === null) result[`${fd}_encoding`] = 'base64';
  }
  if (entry.clipped) result.output_clipped = true;
  return result;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function utf8OrNull(bytes: Buffer): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}
