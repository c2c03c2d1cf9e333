import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Waiters } from './waiters.js';

/**
 * The stream client of the fault scenarios (test/faults/rig.ts, broker-rig.ts): subscribed to
 * the device's cpu telemetry at 20 Hz and the issuer of one streaming command at a time,
 * recording every relayed `seq` and the command's output, so a scenario can check that every
 * seq came, in order, once, and the output byte for byte.
 */
export const API_KEY = 'K';
export const DEVICE = 'dev1';
export const TELEMETRY_INTERVAL_MS = 50;

export interface Received {
  seq: number;
  type: string;
  /** Device time of a telemetry frame (ms), 0 for command replies. */
  tsMs: number;
}

/** `lines` numbered lines of 60 bytes and a newline: what the test command prints. */
export function numberedLines(lines: number): string {
  let text = '';
  for (let i = 1; i <= lines; i++) text += `line ${String(i).padStart(5, '0')} ${'x'.repeat(48)}\n`;
  return text;
}

function numberedLinesScript(lines: number, gapS: number): string {
  return `i=1; while [ $i -le ${lines} ]; do printf 'line %05d %s\\n' $i ${'x'.repeat(48)}; i=$((i+1)); sleep ${gapS}; done`;
}

/** A stream client: subscribed to cpu, and the issuer of one streaming command at a time. */
export class Collector {
  readonly received: Received[] = [];
  output = '';
  done: Record<string, unknown> | null = null;
  errors: Array<Record<string, unknown>> = [];
  #ws: WebSocket | null = null;
  /** Index into `received` where each connection's frames begin. */
  readonly #connectedAt: number[] = [];
  readonly #waiters = new Waiters();

  /** Connects to the hub on `port` and subscribes; resolves once `subscribed` came. */
  async connect(port: number): Promise<void> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream?api_key=${API_KEY}`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    this.#connectedAt.push(this.received.length);
    const subscribed = new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as Record<string, unknown> & {
          payload: Record<string, unknown>;
        };
        if (frame.type === 'subscribed') resolve();
        if (typeof frame.seq === 'number') {
          const tsMs = frame.type === 'telemetry' ? Date.parse(String(frame.payload.ts)) : 0;
          this.received.push({ seq: frame.seq, type: String(frame.type), tsMs });
        }
        if (frame.type === 'command_output') this.output += String(frame.payload.chunk);
        if (frame.type === 'command_done') this.done = frame.payload;
        if (frame.type === 'error') {
          this.errors.push({ ...frame.payload, request_id: frame.request_id });
          if (frame.request_id === 'sub') reject(new Error(`subscribe: ${JSON.stringify(frame)}`));
        }
        this.#waiters.notify();
      });
    });
    ws.on('error', () => {});
    ws.on('close', () => this.#waiters.notify());
    ws.send(
      JSON.stringify({
        type: 'subscribe',
        request_id: 'sub',
        payload: { device_id: DEVICE, streams: ['cpu'], interval_ms: TELEMETRY_INTERVAL_MS },
      }),
    );
    await subscribed;
    this.#ws = ws;
  }

  /** True while the last connection is open. */
  connected(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** Resolves once `check()` holds after some frame (or already). */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return this.#waiters.until(check, timeoutMs, () => `${what} (last seq ${this.lastSeq()})`);
  }

  /**
   * Starts a command printing `lines` numbered lines, one every `gapS` s (see numberedLines);
   * returns its request_id.
   */
  runCommand(lines: number, gapS = 0.02): string {
    this.output = '';
    this.done = null;
    const requestId = `cmd-${this.received.length}`;
    this.#ws?.send(
      JSON.stringify({
        type: 'command',
        request_id: requestId,
        payload: {
          device_id: DEVICE,
          argv: ['sh', '-c', numberedLinesScript(lines, gapS)],
          stream_output: true,
        },
      }),
    );
    return requestId;
  }

  commandDone(timeoutMs = 20_000): Promise<void> {
    return this.until(
      () => this.done !== null,
      timeoutMs,
      `command_done (output ${this.output.length} bytes, errors ${JSON.stringify(this.errors)})`,
    );
  }

  /** Resolves once the command printed something: it runs. */
  firstOutput(timeoutMs = 5_000): Promise<void> {
    return this.until(() => this.output.length > 0, timeoutMs, 'first output');
  }

  /** Resolves with the next telemetry frame: the device is online and relaying. */
  nextTelemetry(timeoutMs = 10_000): Promise<void> {
    const seen = this.received.length;
    return this.until(
      () => this.received.slice(seen).some((r) => r.type === 'telemetry'),
      timeoutMs,
      'telemetry from the device',
    );
  }

  /** Waits for telemetry made at or after `ms` (device clock): everything older has come by then. */
  madeAfter(ms: number, timeoutMs = 20_000): Promise<void> {
    return this.until(
      () => this.received.some((r) => r.tsMs >= ms),
      timeoutMs,
      `a message made after ${new Date(ms).toISOString()}`,
    );
  }

  count(n: number, timeoutMs = 10_000): Promise<void> {
    return this.until(() => this.received.length >= n, timeoutMs, `${n} messages`);
  }

  /** Output of the command so far, as an exact copy of what it printed (or a prefix of it). */
  assertOutput(lines: number, { complete = true } = {}): void {
    const expected = numberedLines(lines);
    if (complete) {
      assert.equal(this.output.length, expected.length, 'output length');
      assert.ok(this.output === expected, 'output byte for byte');
    } else {
      assert.ok(expected.startsWith(this.output), 'output is an exact prefix of what was printed');
    }
  }

  lastSeq(): number {
    return this.received.at(-1)?.seq ?? 0;
  }

  /**
   * Every seq from `from` (1, or the first received for a client that subscribed late) to the
   * last, in order, exactly once (telemetry and command replies together); `missing` are seqs
   * that may not arrive (reported drops, the drop report).
   */
  assertComplete(missing: ReadonlySet<number> = new Set(), from = 1): void {
    const seqs = this.received.map((r) => r.seq);
    assert.ok(seqs.length > 0, 'nothing received');
    const problems: string[] = [];
    let expected = from;
    for (const seq of seqs) {
      while (missing.has(expected)) expected++;
      if (seq !== expected) problems.push(`expected seq ${expected}, got ${seq}`);
      expected = Math.max(expected, seq) + 1;
    }
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} ordering problems`);
  }

  /** What each connection received, in order of connecting (a client may move between hubs). */
  connections(): Received[][] {
    return this.#connectedAt.map((start, i) =>
      this.received.slice(start, this.#connectedAt[i + 1]),
    );
  }

  close(): void {
    this.#ws?.terminate();
  }
}
