import type { AgentContext, Feature } from '../agent/agent.js';
import type { CommandRunner } from '../process/runner.js';
import type { RandomSource } from '../time/backoff.js';
import { Channel } from '../protocol/message.js';
import { streamsPayload, type StreamsPayload } from '../protocol/to-agent.js';
import type { Clock } from '../time/clock.js';
import { probeBuiltins } from './builtin-sources.js';
import { CommandSource } from './sources/command-source.js';
import type { StatFs } from './sources/disk-source.js';
import { NumberFileSource } from './sources/number-file-source.js';
import { planStreams, type StreamDemand } from './stream-plan.js';
import {
  probe,
  type Probe,
  type SampleError,
  type StreamSource,
  type SystemRoots,
} from './stream-source.js';
import {
  expandStreamNames,
  isCommandSpec,
  type CustomStreamSpec,
  type StreamSettings,
} from './stream-specs.js';
import { StreamTask } from './stream-task.js';
import { LogCode } from '../log/log-codes.js';

/**
 * Telemetry: built-in and custom streams, sampled by config and on demand.
 *
 * At start every stream is probed once: those the device can provide are announced in
 * `hello.capabilities` as `telemetry:<name>`; one that config turns on but the device cannot
 * provide gets one warning (`stream_unavailable`), never a null every interval. The hub's
 * `streams` message says what stream clients want now; the plan (config ∪ demand) is applied
 * to one StreamTask per running stream. Demand belongs to a connection: it is dropped when the
 * link goes down, and the hub sends it again after the next `welcome`.
 */
export interface TelemetrySettings extends SystemRoots {
  /** Built-in streams sampled by config (`network` covers `network.rx` and `network.tx`). */
  streams: readonly string[];
  intervalMs: number;
  minIntervalMs: number;
  randomStart: boolean;
  perStream: Record<string, StreamSettings>;
  custom: readonly CustomStreamSpec[];
  thermalZone: string;
  diskPath: string;
  networkInterfaces: readonly string[];
}

export interface TelemetryFeatureOptions {
  settings: TelemetrySettings;
  clock: Clock;
  random: RandomSource;
  /** Runs the command streams' commands. */
  runner: CommandRunner;
  /** The environment command streams run with (the agent's without its settings: childBaseEnv). */
  env: Readonly<Record<string, string>>;
  statfs?: StatFs;
}

/** Longest wait for the first sample of a stream that a subscription starts or speeds up (half an interval when shorter: long enough for a cpu delta, well within one interval). */
const ON_DEMAND_FIRST_SAMPLE_MS = 1_000;

/** Unavailable stream names remembered (each reported once). */
const MAX_REPORTED_STREAMS = 256;

/**
 * The span a device's start phase is drawn from: far longer than any interval, so the phase
 * modulo an interval is spread evenly over it.
 */
const PHASE_SPAN_MS = 24 * 60 * 60 * 1000;

export class TelemetryFeature implements Feature {
  readonly name = 'telemetry';
  readonly #o: TelemetryFeatureOptions;
  readonly #sources = new Map<string, StreamSource>();
  readonly #tasks = new Map<string, StreamTask>();
  readonly #reported = new Set<string>();
  #configured = new Set<string>();
  #demand: StreamDemand[] = [];
  #context: AgentContext | null = null;
  #offStatus: (() => void) | null = null;
  /** This device's start phase (see #firstDelay), drawn once. */
  #phaseMs = 0;

  constructor(options: TelemetryFeatureOptions) {
    this.#o = options;
  }

  capabilities(): string[] {
    return [...this.#sources.keys()].sort().map((name) => `telemetry:${name}`);
  }

  /** Streams being sampled now and their intervals (for tests and diagnostics). */
  sampling(): Record<string, number> {
    return Object.fromEntries(
      [...this.#tasks].map(([name, task]) => [name, task.schedule?.intervalMs ?? 0]),
    );
  }

  start(context: AgentContext): void {
    this.#context = context;
    this.#phaseMs = this.#o.random() * PHASE_SPAN_MS;
    const { settings } = this.#o;
    const probes = new Map<string, Probe>([
      ...probeBuiltins({ ...settings, clock: this.#o.clock, statfs: this.#o.statfs }),
      ...settings.custom.map((spec): [string, Probe] => [spec.name, this.#probeCustom(spec)]),
    ]);
    this.#configured = new Set([
      ...expandStreamNames(settings.streams, probes.keys()),
      ...settings.custom.filter((spec) => spec.enabled !== false).map((spec) => spec.name),
    ]);
    for (const [name, result] of probes) {
      if (result.ok) this.#sources.set(name, result.source);
      else if (this.#configured.has(name)) this.#reportUnavailable(name, result.reason);
    }
    const temperature = probes.get('temperature');
    context.logger.info(
      {
        available: [...this.#sources.keys()],
        configured: [...this.#configured].filter((name) => this.#sources.has(name)),
        ...(temperature?.ok && temperature.detail ? { temperature: temperature.detail } : {}),
      },
      'telemetry ready',
    );
    context.router.register('streams', streamsPayload, (payload) => this.#onDemand(payload));
    this.#offStatus = context.onStatus((status) => {
      if (status.kind !== 'online' && this.#demand.length > 0) {
        this.#demand = [];
        this.#apply(false);
      }
    });
    this.#apply(true);
  }

  async stop(): Promise<void> {
    this.#offStatus?.();
    for (const task of this.#tasks.values()) task.stop();
    this.#tasks.clear();
    for (const source of this.#sources.values()) source.close();
  }

  #probeCustom(spec: CustomStreamSpec): Probe {
    if (isCommandSpec(spec)) {
      // Not run at start: a vendor tool may be slow, and its first slot reports any failure.
      const source = new CommandSource({
        name: spec.name,
        command: spec.command,
        timeoutMs: spec.timeoutMs,
        runner: this.#o.runner,
        env: this.#o.env,
      });
      return { ok: true, source };
    }
    return probe(() => new NumberFileSource(spec.name, spec.file, spec.scale ?? 1));
  }

  #onDemand(payload: StreamsPayload): void {
    const demand: StreamDemand[] = [];
    for (const { name, interval_ms } of payload.streams) {
      for (const member of expandStreamNames([name], this.#sources.keys())) {
        if (!this.#sources.has(member)) {
          this.#reportUnavailable(member, 'subscribed, but this device does not provide it');
          continue;
        }
        demand.push(
          interval_ms === undefined ? { name: member } : { name: member, intervalMs: interval_ms },
        );
      }
    }
    this.#demand = demand;
    this.#context?.logger.info(
      {
        streams: payload.streams.map((s) =>
          s.interval_ms ? `${s.name}@${s.interval_ms}ms` : s.name,
        ),
      },
      'stream clients want telemetry',
    );
    this.#apply(false);
  }

  /** Brings the running tasks in line with config ∪ demand. */
  #apply(startup: boolean): void {
    const { settings } = this.#o;
    const plan = planStreams({
      configured: this.#configured,
      demand: this.#demand,
      available: new Set(this.#sources.keys()),
      intervalMs: settings.intervalMs,
      minIntervalMs: settings.minIntervalMs,
      perStream: settings.perStream,
    });
    for (const [name, task] of this.#tasks) {
      if (plan.has(name)) continue;
      task.stop();
      this.#tasks.delete(name);
    }
    for (const [name, schedule] of plan) {
      let task = this.#tasks.get(name);
      if (!task) {
        task = this.#createTask(this.#sources.get(name) as StreamSource);
        this.#tasks.set(name, task);
      }
      task.apply(schedule, this.#firstDelay(schedule.intervalMs, startup));
    }
  }

  /**
   * At start-up with `randomStart`, every stream starts at the device's one random phase
   * modulo its interval: a fleet does not sample in lockstep, while one device's streams come
   * due together wherever their intervals meet (1 s and 5 s streams share every fifth tick).
   * They are then sampled in one timer turn, written in one spool batch and acknowledged
   * together: one wake-up where a phase per stream made one each.
   */
  #firstDelay(intervalMs: number, startup: boolean): number {
    if (!startup) return Math.min(intervalMs / 2, ON_DEMAND_FIRST_SAMPLE_MS);
    return this.#o.settings.randomStart ? this.#phaseMs % intervalMs : intervalMs;
  }

  #createTask(source: StreamSource): StreamTask {
    const context = this.#context as AgentContext;
    return new StreamTask({
      source,
      clock: this.#o.clock,
      logger: context.logger,
      send: (stream, ts, value) =>
        context.emit('telemetry', Channel.telemetry, {
          device_id: context.deviceId,
          stream,
          ts,
          value,
        }),
      reportError: (error: SampleError) =>
        context.emit('error', Channel.errors, {
          code: error.code,
          message: error.message,
          stream: source.name,
        }),
    });
  }

  #reportUnavailable(name: string, reason: string): void {
    // Bounded: a hub that keeps asking for new unknown names must not grow the set for ever.
    if (this.#reported.has(name) || this.#reported.size >= MAX_REPORTED_STREAMS) return;
    this.#reported.add(name);
    this.#context?.logger.warn(
      { code: LogCode.streamUnavailable, stream: name, reason },
      `telemetry stream "${name}" is not available on this device`,
    );
  }
}
