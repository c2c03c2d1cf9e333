import type { AgentContext, Feature } from '../agent/agent.js';
import type { SessionOpenRequest } from '../agent/session-kinds.js';
import { InputReport, OutputWindow } from '../agent/session-window.js';
import { ByteFd, ByteKind } from '../protocol/byte-frame.js';
import { ErrorCode } from '../protocol/error-codes.js';
import {
  FORWARD_KIND,
  forwardOpenPayload,
  type ForwardOpenPayload,
} from '../protocol/forward-sessions.js';
import { Channel } from '../protocol/message.js';
import { ForwardPolicy, type LookupFunction } from './forward-policy.js';
import { formatTarget } from './forward-targets.js';
import { ForwardTunnel, type ConnectFunction } from './forward-tunnel.js';

/**
 * Port forwarding: a `session_open` of kind `forward` opens one TCP connection from the device to
 * `host:port` (docs/protocol.md, "Port forwarding"). Off unless `forward.enabled`; the target
 * (as named and as resolved) must match `forward.allow`, which by default lets only loopback
 * through; at most `forward.maxConnections` at once. Every tunnel's open and close is logged at
 * info with who asked (`requested_by`, set by the hub), the target, the bytes each way, how long
 * it lasted and why it ended.
 */
export interface ForwardSettings {
  enabled: boolean;
  allow: readonly string[];
  maxConnections: number;
  connectTimeoutMs: number;
  idleTimeoutS: number;
  maxDurationS: number;
}

export interface ForwardFeatureOptions {
  settings: ForwardSettings;
  /** net.connect by default. */
  connect: ConnectFunction;
  /** dns.lookup's first answer by default. */
  lookup: LookupFunction;
}

export class ForwardFeature implements Feature {
  readonly name = 'forward';
  readonly #o: ForwardFeatureOptions;
  readonly #policy: ForwardPolicy;
  readonly #tunnels = new Map<string, ForwardTunnel>();
  #stopping = false;

  constructor(options: ForwardFeatureOptions) {
    this.#o = options;
    this.#policy = new ForwardPolicy(options.settings, options.lookup);
  }

  capabilities(): string[] {
    return this.#policy.enabled ? [FORWARD_KIND] : [];
  }

  openRequests(): string[] {
    return [...this.#tunnels.keys()];
  }

  get tunnelCount(): number {
    return this.#tunnels.size;
  }

  start(context: AgentContext): void {
    context.sessions.register(FORWARD_KIND, {
      payload: forwardOpenPayload,
      open: (payload: ForwardOpenPayload, request: SessionOpenRequest) =>
        this.#open(context, payload, request),
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const tunnels = [...this.#tunnels.values()];
    for (const tunnel of tunnels) tunnel.close('shutdown');
    await Promise.all(tunnels.map((tunnel) => tunnel.done));
  }

  abort(): number {
    // A socket does not outlive the process: nothing to end before exit.
    return 0;
  }

  #open(context: AgentContext, payload: ForwardOpenPayload, request: SessionOpenRequest): void {
    const { requestId, requestedBy } = request;
    const target = formatTarget(payload.host, payload.port);
    const reply = (type: string, body: Record<string, unknown>): void =>
      context.emit(type, type === 'error' ? Channel.errors : Channel.commands, body, requestId);
    const refuse = (code: ErrorCode, message: string): void => {
      context.logger.warn(
        { code, request_id: requestId, requested_by: requestedBy, target },
        `forward refused: ${message}`,
      );
      reply('error', { code, message });
    };
    if (this.#stopping) return refuse(ErrorCode.busy, 'the agent is shutting down');
    if (!this.#policy.enabled)
      return refuse(
        ErrorCode.forwardDenied,
        'port forwarding is disabled on this device (forward.enabled)',
      );
    if (this.#tunnels.size >= this.#o.settings.maxConnections)
      return refuse(
        ErrorCode.busy,
        `${this.#tunnels.size} forwards are open, the most this device allows (forward.maxConnections)`,
      );
    // The core refused a stream number already in use.
    const stream = request.stream;

    const { settings } = this.#o;
    const tunnel = new ForwardTunnel({
      requestId,
      requestedBy,
      target,
      clock: context.clock,
      logger: context.logger,
      outbox: context.outbox,
      window: new OutputWindow(),
      report: new InputReport((bytes) => reply('input_consumed', { bytes })),
      sendOutput:
        stream === null
          ? (bytes) => reply('session_output', { data: bytes.toString('base64') })
          : (bytes) =>
              context.emitBytes({ kind: ByteKind.data, stream, fd: ByteFd.stdout, data: bytes }),
      sendEof:
        stream === null
          ? () => undefined
          : () =>
              context.emitBytes({
                kind: ByteKind.eof,
                stream,
                fd: ByteFd.stdout,
                data: new Uint8Array(0),
              }),
      reply,
      connect: this.#o.connect,
      connectTimeoutMs: settings.connectTimeoutMs,
      idleTimeoutMs: settings.idleTimeoutS * 1000,
      maxDurationMs: settings.maxDurationS * 1000,
    });
    this.#tunnels.set(requestId, tunnel);
    const untrack = context.sessions.track(requestId, {
      input: (bytes) => tunnel.input(bytes),
      ack: (bytes) => tunnel.ack(bytes),
      close: () => tunnel.close(),
    });
    const closeStream =
      stream === null
        ? null
        : context.router.openStream(stream, (frame) => {
            if (frame.fd !== ByteFd.stdin) return;
            if (frame.kind === ByteKind.eof) tunnel.inputEnd();
            else
              tunnel.input(
                Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.length),
              );
          });
    void tunnel.done.then(() => {
      closeStream?.();
      untrack();
      this.#tunnels.delete(requestId);
    });
    tunnel.begin();
    void this.#policy.check(payload.host, payload.port).then((decision) => {
      if (decision.ok) tunnel.connect(decision.address, decision.family, payload.port);
      else
        tunnel.refuse(
          decision.reason === 'lookup_failed' ? ErrorCode.forwardFailed : ErrorCode.forwardDenied,
          decision.message,
        );
    });
  }
}
