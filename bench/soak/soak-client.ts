import WebSocket from 'ws';
import type { CommandOutcome, SoakCommand } from './command-mix.js';
import { SeqLedger } from './seq-ledger.js';

/**
 * The operator's side of the soak: one `/v1/stream` client, straight to the hub (the partitions
 * are between agent and hub), subscribed to every stream the agent samples and issuing every
 * command. It counts what arrives, checks seqs, and keeps each command until its final reply.
 */
interface Frame {
  type: string;
  seq?: number;
  request_id?: string;
  payload: Record<string, unknown>;
}

interface PendingCommand {
  command: SoakCommand;
  sentAtMs: number;
  stdout: string;
}

export interface CommandCounts {
  sent: number;
  /** Ended with the expected outcome. */
  ok: number;
  /** Refused by the hub with `device_offline` (the agent was reconnecting): never ran. */
  offline: number;
  /** Answered `request_lost`: sent into a cut link, the agent never got it. */
  lost: number;
  /** Ended, but not as the mix says it must. */
  wrong: number;
  inFlight: number;
}

export class SoakClient {
  readonly ledger = new SeqLedger();
  readonly perStream = new Map<string, number>();
  readonly wrongOutcomes: string[] = [];
  /** Device time of the newest telemetry sample received (ms). */
  newestSampleMs = 0;
  readonly #ws: WebSocket;
  readonly #deviceId: string;
  readonly #pending = new Map<string, PendingCommand>();
  readonly #counts = { sent: 0, ok: 0, offline: 0, lost: 0, wrong: 0 };
  readonly #listeners = new Set<() => void>();
  #nextId = 0;

  private constructor(ws: WebSocket, deviceId: string) {
    this.#ws = ws;
    this.#deviceId = deviceId;
    ws.on('message', (data) => this.#onFrame(JSON.parse(String(data)) as Frame));
  }

  static async connect(
    wsUrl: string,
    apiKey: string,
    deviceId: string,
    streams: readonly string[],
  ): Promise<SoakClient> {
    const ws = new WebSocket(`${wsUrl}/v1/stream?api_key=${apiKey}`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const client = new SoakClient(ws, deviceId);
    const subscribed = new Promise<void>((resolve) =>
      ws.on('message', (data) => {
        if (String(data).includes('"type":"subscribed"')) resolve();
      }),
    );
    ws.send(
      JSON.stringify({
        type: 'subscribe',
        request_id: 'soak-sub',
        payload: { device_id: deviceId, streams },
      }),
    );
    await subscribed;
    return client;
  }

  get counts(): CommandCounts {
    return { ...this.#counts, inFlight: this.#pending.size };
  }

  get telemetryReceived(): number {
    let total = 0;
    for (const count of this.perStream.values()) total += count;
    return total;
  }

  /** Sends one command (with `env` marking its processes), and its cancel when the mix says so. */
  send(command: SoakCommand, env: Record<string, string>, nowMs: number): void {
    const requestId = `soak-${++this.#nextId}`;
    this.#pending.set(requestId, { command, sentAtMs: nowMs, stdout: '' });
    this.#counts.sent++;
    this.#send({
      type: 'command',
      request_id: requestId,
      payload: { device_id: this.#deviceId, ...command.payload, env },
    });
    if (command.cancelAfterMs !== undefined) {
      setTimeout(() => {
        if (this.#pending.has(requestId))
          this.#send({ type: 'command_cancel', payload: { request_id: requestId } });
      }, command.cancelAfterMs).unref();
    }
  }

  /** Commands sent more than `ageMs` ago and still unanswered. */
  overdue(nowMs: number, ageMs: number): string[] {
    return [...this.#pending.entries()]
      .filter(([, p]) => nowMs - p.sentAtMs > ageMs)
      .map(([id, p]) => `${id} (${p.command.name})`);
  }

  /** Resolves true once `check()` holds after some frame (or already), false at the deadline. */
  until(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const listener = (): void => {
        if (!check()) return;
        settle(true);
      };
      const timer = setTimeout(() => settle(false), timeoutMs);
      const settle = (result: boolean): void => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(result);
      };
      this.#listeners.add(listener);
    });
  }

  close(): void {
    this.#ws.terminate();
  }

  #send(frame: Record<string, unknown>): void {
    this.#ws.send(JSON.stringify(frame));
  }

  #onFrame(frame: Frame): void {
    if (typeof frame.seq === 'number')
      this.ledger.observe(frame.seq, new Date().toISOString().slice(11, 23));
    if (frame.type === 'telemetry') this.#onTelemetry(frame.payload);
    else if (frame.request_id?.startsWith('soak-')) this.#onReply(frame.request_id, frame);
    for (const listener of this.#listeners) listener();
  }

  #onTelemetry(payload: Record<string, unknown>): void {
    const stream = String(payload.stream);
    this.perStream.set(stream, (this.perStream.get(stream) ?? 0) + 1);
    this.newestSampleMs = Math.max(this.newestSampleMs, Date.parse(String(payload.ts)));
  }

  #onReply(requestId: string, frame: Frame): void {
    const pending = this.#pending.get(requestId);
    if (!pending) return;
    if (frame.type === 'command_output') {
      if (frame.payload.fd === 'stdout') pending.stdout += decodeChunk(frame.payload);
      return;
    }
    if (frame.type !== 'command_done' && frame.type !== 'error') return;
    this.#pending.delete(requestId);
    const outcome: CommandOutcome = {
      done: frame.type === 'command_done' ? frame.payload : null,
      error: frame.type === 'error' ? frame.payload : null,
      stdout: pending.stdout,
    };
    // The answers for a command that never reached the agent: each is right, none is silence.
    if (outcome.error?.code === 'device_offline') {
      this.#counts.offline++;
      return;
    }
    if (outcome.error?.code === 'request_lost') {
      this.#counts.lost++;
      return;
    }
    const problem = pending.command.check(outcome);
    if (problem === null) {
      this.#counts.ok++;
      return;
    }
    this.#counts.wrong++;
    if (this.wrongOutcomes.length < 20)
      this.wrongOutcomes.push(`${requestId} (${pending.command.name}): ${problem}`);
  }
}

function decodeChunk(payload: Record<string, unknown>): string {
  const chunk = String(payload.chunk);
  return payload.encoding === 'base64' ? Buffer.from(chunk, 'base64').toString('utf8') : chunk;
}
