import type { Logger } from 'pino';
import { APP_EVENTS_STREAM } from '../protocol/apps.js';
import { ErrorCode } from '../protocol/error-codes.js';
import type { SubscribePayload } from '../protocol/from-client.js';
import { errorMessage, type Message } from '../protocol/message.js';
import type { FrameError, ParsedFrame } from '../protocol/parse.js';
import { isPlainObject } from '../protocol/schema.js';
import type { HelloPayload, TelemetryPayload } from '../protocol/to-hub.js';
import type { Clock } from '../time/clock.js';
import { failedEnding } from './command-endings.js';
import { DeviceRegistry } from './device-registry.js';
import type { IdSource } from './ids.js';
import type { ClientEvents, ClientLink, DeviceEvents, DeviceLink } from './links.js';
import { LostRequests, openRequestsClaim } from './lost-requests.js';
import { offeredStreams, splitByOffer } from './offered-streams.js';
import { PushBack } from './push-back.js';
import {
  ForwardedRequests,
  isFinalReply,
  isReply,
  type ForwardedRequest,
  type RequestKind,
} from './forwarded-requests.js';
import { SubscriptionRegistry, type StreamDemand } from './subscriptions.js';
import { CloseCode } from '../protocol/close-codes.js';
import { LogCode } from '../log/log-codes.js';
import {
  ByteFd,
  ByteKind,
  MAX_BYTE_FRAME_DATA,
  encodeByteFrame,
  type ByteFrame,
} from '../protocol/byte-frame.js';
import { HeldSessionInput } from './held-session-input.js';
import {
  DEFAULT_SESSION_KIND,
  MAX_REQUESTED_BY_CHARS,
  SESSION_WINDOW_BYTES,
  type SessionForwardPayload,
} from '../protocol/sessions.js';
import { OrphanSessions } from './orphan-sessions.js';
import { OutputChunks, inputPayloads, outputBytes, outputFdNumber, reframe } from './byte-relay.js';

/**
 * The hub's broker, free of sockets: which devices are online, who subscribed to what, which
 * client is waiting for which device's replies (ForwardedRequests). Peers (one per socket)
 * report events here; the broker answers through their links.
 *
 * Client requests are dispatched by `type` from a handler table (the frame was validated by
 * the client's peer already); device frames likewise.
 */
/** Subscriptions one stream client may hold at once (each names at most 64 streams). */
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_CLIENT = 100;
/** Requests one stream client may have waiting for devices at once. */
export const DEFAULT_MAX_REQUESTS_PER_CLIENT = 256;
/** How long a client that does not read may keep a device's output paused (then 4008). */
export const DEFAULT_MAX_PUSH_BACK_MS = 30_000;

export interface BrokerOptions {
  knownDeviceIds: Iterable<string>;
  clock: Clock;
  logger: Logger;
  ids: IdSource;
  /** Where forwarded requests' ids come from (default `ids`; on an MQTT broker, the hub's own). */
  requestIds?: IdSource;
  /**
   * Whether the broker tells a device which streams this hub's clients want (default true).
   * Over an MQTT broker the device's owning hub sends the union over every hub instead.
   */
  sendsDemand?: boolean;
  /**
   * Runs `heard` once this hub hears the device's frames, so that a `subscribed` reply means
   * the telemetry flows. At once by default; a hub on an MQTT broker subscribes first (Fleet).
   */
  whenHeard?: (deviceId: string, heard: () => void) => void;
  /**
   * How long a forwarded command outlives its device's link: the agent spools the command's
   * output and resends it once it is back, so a short drop need not end the command for the
   * client. 0: a disconnect ends it at once (`device_offline`).
   */
  requestGraceMs?: number;
  /**
   * Whether a request a device's hello lists and this hub does not know is this hub's own from
   * before a restart (default true). Over an MQTT broker another hub may hold it: false.
   */
  ownsEveryRequest?: boolean;
  /** Hears every valid device frame the hub handles (webhooks post them). */
  onDeviceMessage?: (deviceId: string, frame: ParsedFrame) => void;
  maxSubscriptionsPerClient?: number;
  maxRequestsPerClient?: number;
  /** See PushBack: how long a backed-up client may hold a device's output. */
  maxPushBackMs?: number;
}

type ClientHandler = (client: ClientLink, frame: ParsedFrame) => void;
type DeviceHandler = (device: DeviceLink, frame: ParsedFrame) => void;

export class Broker implements DeviceEvents, ClientEvents {
  readonly devices: DeviceRegistry<DeviceLink>;
  readonly subscriptions: SubscriptionRegistry<ClientLink>;
  readonly requests: ForwardedRequests<ClientLink, DeviceLink>;
  readonly lostRequests: LostRequests<ClientLink, DeviceLink>;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #requestGraceMs: number;
  readonly #onDeviceMessage: (deviceId: string, frame: ParsedFrame) => void;
  readonly #pushBack: PushBack;
  readonly #maxSubscriptionsPerClient: number;
  readonly #maxRequestsPerClient: number;
  readonly #sendsDemand: boolean;
  readonly #ownsEveryRequest: boolean;
  readonly #whenHeard: (deviceId: string, heard: () => void) => void;
  /** Sessions no client waits for any more, to close when their device is back. */
  readonly #orphanSessions = new OrphanSessions();
  /** Keystrokes, a resize and a close for sessions whose device link is down. */
  readonly #heldSessionInput = new HeldSessionInput<ForwardedRequest<ClientLink, DeviceLink>>();
  /** Binary output being turned into `command_output` for a client that did not ask for bytes. */
  readonly #outputChunks = new WeakMap<ForwardedRequest<ClientLink, DeviceLink>, OutputChunks>();
  /** Stdin bytes turned into `command_input` for a device without bytes, per request. */
  readonly #stdinForwarded = new WeakMap<ForwardedRequest<ClientLink, DeviceLink>, number>();
  /** Clients not read while the device their stdin goes to is backed up. */
  readonly #stdinHeld = new Map<DeviceLink, Set<ClientLink>>();

  readonly #clientHandlers: Record<string, ClientHandler> = {
    subscribe: (client, frame) => this.#subscribe(client, frame),
    unsubscribe: (client, frame) => this.#unsubscribe(client, frame),
    command: (client, frame) => this.#command(client, frame),
    command_cancel: (client, frame) => this.#followUp(client, frame),
    command_input: (client, frame) => this.#followUp(client, frame),
    app_command: (client, frame) => this.#command(client, frame),
    session_open: (client, frame) => this.#command(client, frame),
    session_input: (client, frame) => this.#followUp(client, frame),
    session_resize: (client, frame) => this.#followUp(client, frame),
    session_close: (client, frame) => this.#followUp(client, frame),
    session_ack: (client, frame) => this.#followUp(client, frame),
  };

  readonly #deviceHandlers: Record<string, DeviceHandler> = {
    telemetry: (device, frame) => this.#telemetry(device, frame),
    command_output: (device, frame) => this.#reply(device, frame),
    input_consumed: (device, frame) => this.#reply(device, frame),
    command_done: (device, frame) => this.#reply(device, frame),
    error: (device, frame) => this.#reply(device, frame),
    status: (device, frame) => this.#status(device, frame),
    user: () => {},
    app_command_done: (device, frame) => this.#reply(device, frame),
    session_opened: (device, frame) => this.#reply(device, frame),
    session_output: (device, frame) => this.#reply(device, frame),
    session_done: (device, frame) => this.#reply(device, frame),
    app_error: (device, frame) => this.#appEvent(device, frame),
    app_call: (device, frame) => this.#appEvent(device, frame),
    app_call_done: (device, frame) => this.#appEvent(device, frame),
  };

  constructor(options: BrokerOptions) {
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#requestGraceMs = options.requestGraceMs ?? 0;
    this.#onDeviceMessage = options.onDeviceMessage ?? (() => {});
    this.#maxSubscriptionsPerClient =
      options.maxSubscriptionsPerClient ?? DEFAULT_MAX_SUBSCRIPTIONS_PER_CLIENT;
    this.#maxRequestsPerClient = options.maxRequestsPerClient ?? DEFAULT_MAX_REQUESTS_PER_CLIENT;
    this.#pushBack = new PushBack({
      clock: options.clock,
      logger: options.logger,
      maxHoldMs: options.maxPushBackMs ?? DEFAULT_MAX_PUSH_BACK_MS,
    });
    this.devices = new DeviceRegistry(options.knownDeviceIds, options.clock);
    this.subscriptions = new SubscriptionRegistry(options.ids);
    this.requests = new ForwardedRequests(options.requestIds ?? options.ids);
    this.lostRequests = new LostRequests(this.requests);
    this.#sendsDemand = options.sendsDemand ?? true;
    this.#ownsEveryRequest = options.ownsEveryRequest ?? true;
    this.#whenHeard = options.whenHeard ?? ((_deviceId, heard) => heard());
    this.subscriptions.onStreamsChanged((deviceId, _names, demand) => {
      const device = this.devices.onlineLink(deviceId);
      if (device) this.#sendDemand(device, demand);
    });
  }

  // ── devices ──────────────────────────────────────────────────────────────────────────────

  deviceAttached(link: DeviceLink): void {
    const previous = this.devices.attach(link);
    this.#logger.info(
      { deviceId: link.deviceId, replacing: previous !== null },
      'device connected',
    );
    if (previous) void previous.close(CloseCode.replaced, 'replaced by a new connection');
  }

  /**
   * Called once the device has been welcomed: it learns at once what clients want from it, and
   * takes over the requests of its earlier links (those it no longer holds are lost, see
   * LostRequests).
   */
  deviceReady(link: DeviceLink, hello: HelloPayload, processedSeq: number): void {
    this.devices.markReady(link, hello);
    this.#logger.info(
      { deviceId: link.deviceId, agentVersion: hello.agent_version },
      'device online',
    );
    const demand = this.subscriptions.demand(link.deviceId);
    if (demand.length > 0) this.#sendDemand(link, demand);
    const rebound = this.requests.rebind((device) => device.deviceId === link.deviceId, link);
    const claim = openRequestsClaim(hello);
    this.#failLost(this.lostRequests.hello(link, rebound, claim, processedSeq));
    for (const request of rebound) this.#sendHeldSessionInput(request);
    for (const id of this.#orphanSessions.take(link.deviceId)) {
      if (claim && !claim.openRequests.includes(id)) continue;
      this.#closeSession(link, id);
    }
    if (claim && this.#ownsEveryRequest) this.#closeUnknownSessions(link, claim.openRequests);
  }

  /**
   * Requests the agent holds that this hub does not know were forwarded by an earlier process of
   * this hub, whose clients went with it. A shell session among them would run on with no one
   * to read it (a `top` is never idle), so each is sent `session_close`; the agent ignores one
   * that names a command, which ends at its own timeout as documented.
   */
  #closeUnknownSessions(link: DeviceLink, openRequests: readonly string[]): void {
    const unknown = openRequests.filter((id) => this.requests.get(id) === undefined);
    if (unknown.length === 0) return;
    this.#logger.info(
      { deviceId: link.deviceId, requests: unknown.length },
      "closing the shell sessions among the device's requests this hub does not know (an earlier hub process's)",
    );
    for (const id of unknown) this.#closeSession(link, id);
  }

  #closeSession(link: DeviceLink, id: string): void {
    link.send({ type: 'session_close', request_id: id, payload: { request_id: id } });
  }

  deviceProcessed(link: DeviceLink, seq: number): void {
    this.#failLost(this.lostRequests.processed(link, seq));
  }

  deviceSeen(link: DeviceLink): void {
    this.devices.touch(link);
  }

  deviceFrame(link: DeviceLink, frame: ParsedFrame): void {
    const handler = Object.hasOwn(this.#deviceHandlers, frame.type)
      ? this.#deviceHandlers[frame.type]
      : undefined;
    if (handler) {
      handler(link, frame);
      // A terminal's bytes (what was typed, what was shown) are the session's alone, and stdin's
      // flow control is no device message: webhooks hear neither.
      if (!SESSION_FRAMES.has(frame.type) && frame.type !== 'input_consumed')
        this.#onDeviceMessage(link.deviceId, frame);
    } else
      link.refuse(
        frameError(ErrorCode.unknownType, `the hub does not handle "${frame.type}"`, frame),
      );
  }

  /**
   * Output bytes of a forwarded request: as binary frames under the client's stream number to a
   * client that asked for them, else as the seed's `command_output`. Like every reply, never
   * dropped: a backed-up client holds the device back.
   */
  deviceBytes(link: DeviceLink, frame: ByteFrame): void {
    const request = this.requests.byDeviceStream(frame.stream);
    if (!request || request.device.deviceId !== link.deviceId || frame.fd === ByteFd.stdin) {
      this.#logger.debug(
        { deviceId: link.deviceId, stream: frame.stream },
        'bytes for no open request dropped',
      );
      return;
    }
    const { client } = request;
    let relayed = false;
    if (request.clientStream !== undefined && client.sendBytes) {
      relayed = client.sendBytes(reframe(frame, request.clientStream, frame.seq));
    } else if (request.kind === 'session') {
      // A terminal's bytes, for a client without binary frames: base64, no UTF-8 cutting.
      if (frame.kind === ByteKind.data)
        relayed = client.send(sessionOutputMessage(frame.data, request.clientRequestId, frame.seq));
    } else if (frame.kind === ByteKind.data) {
      let chunks = this.#outputChunks.get(request);
      if (!chunks) this.#outputChunks.set(request, (chunks = new OutputChunks()));
      // A frame may make several chunks: the device's seq goes on the last (the frame is whole).
      const pieces = chunks.take(frame.fd, frame.data);
      for (const [i, chunk] of pieces.entries()) {
        const seq = i === pieces.length - 1 ? frame.seq : 0;
        relayed = client.send(outputMessage(chunk, request.clientRequestId, seq));
      }
    }
    if (relayed) this.#pushBack.relayed(link, client);
  }

  deviceClosed(link: DeviceLink, code: number, reason: string): void {
    this.#releaseStdin(link); // its queue is gone: the clients it held are read again
    const wasCurrent = this.devices.detach(link);
    this.lostRequests.linkClosed(link);
    this.#pushBack.forgetDevice(link);
    this.#logger.info(
      { deviceId: link.deviceId, closeCode: code, reason, replaced: !wasCurrent },
      'device disconnected',
    );
    if (this.#requestGraceMs > 0 && this.requests.forDevice(link).length > 0) {
      // Requests the device takes back when it reconnects are no longer on this link by then.
      const timer = this.#clock.setTimeout(() => this.#endRequests(link), this.#requestGraceMs);
      timer.unref?.();
    } else this.#endRequests(link);
  }

  /** Requests the device came back without (already closed). */
  #failLost(requests: readonly ForwardedRequest<ClientLink, DeviceLink>[]): void {
    for (const request of requests) {
      this.#logger.warn(
        { code: ErrorCode.requestLost, deviceId: request.device.deviceId, kind: request.kind },
        'device reconnected without a request forwarded on its earlier link',
      );
      this.#endRequest(request, {
        code: ErrorCode.requestLost,
        message: 'the device lost the request with its link; it may not have run',
      });
    }
  }

  #endRequests(link: DeviceLink): void {
    for (const request of this.requests.closeForDevice(link)) {
      this.#endRequest(request, { code: ErrorCode.deviceOffline, message: 'device disconnected' });
      if (request.kind === 'session') this.#orphanSessions.add(link.deviceId, request.id);
    }
  }

  /** Tells the client of a request the hub closed why it ended; a command also gets its done. */
  #endRequest(
    request: ForwardedRequest<ClientLink, DeviceLink>,
    error: { code: string; message: string },
  ): void {
    request.client.send(errorMessage(error.code, error.message, request.clientRequestId));
    const ending = failedEnding(request.kind, error, request.clientRequestId);
    if (ending) request.client.send(ending);
  }

  /**
   * Tells the agent which streams stream clients want now (the whole set, replacing the last).
   * `apps` is not telemetry: the hub serves it from the device's app events.
   */
  #sendDemand(device: DeviceLink, demand: readonly StreamDemand[]): void {
    if (!this.#sendsDemand) return;
    const streams = demand.filter((d) => d.name !== APP_EVENTS_STREAM);
    device.send({ type: 'streams', payload: { streams } });
  }

  #telemetry(device: DeviceLink, frame: ParsedFrame): void {
    const { device_id, stream, ts, value } = frame.payload as TelemetryPayload;
    if (device_id !== undefined && device_id !== device.deviceId) {
      device.refuse(
        frameError(
          ErrorCode.deviceMismatch,
          `telemetry names device "${device_id}" on the link of "${device.deviceId}"`,
          frame,
        ),
      );
      return;
    }
    for (const subscription of this.subscriptions.matching(device.deviceId, stream)) {
      subscription.client.offer(
        withDeviceSeq(
          {
            type: 'telemetry',
            payload: {
              subscription_id: subscription.id,
              device_id: device.deviceId,
              stream,
              ts,
              value,
            },
          },
          frame,
        ),
      );
    }
  }

  /** The agent's own reports; a drop report is logged, since it means data is missing. */
  #status(device: DeviceLink, frame: ParsedFrame): void {
    if (frame.payload.report !== 'dropped') return;
    this.#logger.warn(
      {
        code: LogCode.deviceDropped,
        deviceId: device.deviceId,
        seq: frame.raw.seq,
        drops: frame.payload.drops,
      },
      'device reports messages it had to drop',
    );
  }

  /** An app's error or call: to the subscriptions of the device that include the `apps` stream. */
  #appEvent(device: DeviceLink, frame: ParsedFrame): void {
    for (const subscription of this.subscriptions.matching(device.deviceId, APP_EVENTS_STREAM)) {
      // The hub's fields last: a device cannot pose as another subscription or device.
      subscription.client.offer({
        type: frame.type,
        payload: {
          ...originalPayload(frame),
          ts: typeof frame.raw.ts === 'string' ? frame.raw.ts : undefined,
          subscription_id: subscription.id,
          device_id: device.deviceId,
        },
      });
    }
  }

  /** A device frame that answers a forwarded request: relayed to the client that made it. */
  #reply(device: DeviceLink, frame: ParsedFrame): void {
    if (frame.request_id === undefined) {
      if (frame.type === 'error') {
        const { code } = frame.payload as { code: string };
        this.#logger.warn({ deviceId: device.deviceId, code }, 'device reported an error');
        return;
      }
      device.refuse(
        frameError(ErrorCode.invalidPayload, `${frame.type}: request_id is required`, frame),
      );
      return;
    }
    const request = this.requests.get(frame.request_id);
    if (
      !request ||
      request.device.deviceId !== device.deviceId ||
      !isReply(request.kind, frame.type)
    ) {
      // Usually the client left or the request already ended; nothing is waiting for this.
      this.#logger.debug(
        { deviceId: device.deviceId, type: frame.type },
        'reply to no open request dropped',
      );
      return;
    }
    // A seed client's command knows no input_consumed; every session's client may use it.
    if (
      frame.type === 'input_consumed' &&
      request.kind === 'command' &&
      request.clientStream === undefined
    )
      return;
    if (isFinalReply(request.kind, frame.type)) this.#flushOutputChunks(request);
    const relayed =
      (frame.type === 'command_output' || frame.type === 'session_output') &&
      request.clientStream !== undefined
        ? this.#outputAsBytes(request, frame)
        : request.client.send(
            withDeviceSeq(
              withRequestId(
                { type: frame.type, payload: originalPayload(frame) },
                request.clientRequestId,
              ),
              frame,
            ),
          );
    // Replies are never dropped: a client that cannot take more holds the device back instead.
    if (relayed) this.#pushBack.relayed(device, request.client);
    if (!isFinalReply(request.kind, frame.type)) return;
    this.requests.close(request.id);
    // The agent's error ends the command: a client that knows only command_done hears so too.
    if (frame.type === 'error') {
      const ending = failedEnding(
        request.kind,
        frame.payload as { code: string; message: string },
        request.clientRequestId,
      );
      if (ending) request.client.send(ending);
    }
  }

  /** JSON output from a device without bytes, to a client that asked for bytes. */
  #outputAsBytes(request: ForwardedRequest<ClientLink, DeviceLink>, frame: ParsedFrame): boolean {
    const { client, clientStream } = request;
    if (clientStream === undefined || !client.sendBytes) return false;
    const seq = typeof frame.raw.seq === 'number' ? frame.raw.seq : 0;
    let fd: ByteFd;
    let data: Uint8Array;
    if (frame.type === 'session_output') {
      fd = ByteFd.stdout;
      data = Buffer.from((frame.payload as { data: string }).data, 'base64');
    } else {
      const payload = frame.payload as { chunk: string; fd: string; encoding?: string };
      fd = outputFdNumber(payload.fd);
      data = outputBytes(payload);
    }
    return client.sendBytes(
      encodeByteFrame({ kind: ByteKind.data, stream: clientStream, fd, seq, data }),
    );
  }

  /** An unfinished character held for a JSON client goes out before the command's end. */
  #flushOutputChunks(request: ForwardedRequest<ClientLink, DeviceLink>): void {
    const chunks = this.#outputChunks.get(request);
    if (!chunks) return;
    this.#outputChunks.delete(request);
    for (const chunk of chunks.flush())
      request.client.send(outputMessage(chunk, request.clientRequestId, 0));
  }

  // ── clients ──────────────────────────────────────────────────────────────────────────────

  clientAttached(link: ClientLink): void {
    this.#logger.info({ clientId: link.id }, 'stream client connected');
  }

  clientFrame(link: ClientLink, frame: ParsedFrame): void {
    const handler = Object.hasOwn(this.#clientHandlers, frame.type)
      ? this.#clientHandlers[frame.type]
      : undefined;
    if (handler) handler(link, frame);
    else
      link.refuse(frameError(ErrorCode.unknownType, `unknown message type "${frame.type}"`, frame));
  }

  /**
   * Stdin for one of the client's byte streams: to the device as a binary frame when its link
   * speaks bytes, else as `command_input`.
   */
  clientBytes(client: ClientLink, frame: ByteFrame): void {
    const request = this.requests.byClientStream(client, frame.stream);
    const refuse = (code: ErrorCode, message: string): void =>
      client.refuse({ code, message, type: 'bytes' });
    if (!request) {
      refuse(
        ErrorCode.unknownByteStream,
        `no open request uses stream ${frame.stream} on this connection`,
      );
      return;
    }
    if (frame.fd !== ByteFd.stdin) {
      refuse(ErrorCode.invalidFrame, `a client sends stdin only (fd 0), got fd ${frame.fd}`);
      return;
    }
    const { device } = request;
    if (request.kind === 'session' && !this.#sessionLinkUp(request)) {
      if (frame.kind === ByteKind.data) this.#holdKeys(request, frame.data);
      else this.#heldSessionInput.eof(request);
      return;
    }
    if (request.deviceStream !== undefined && device.speaksBytes && device.sendBytes) {
      device.sendBytes(reframe(frame, request.deviceStream, 0));
      this.#holdStdin(client, device);
      return;
    }
    if (request.kind === 'session') {
      if (frame.kind === ByteKind.data) this.#sendSessionKeys(request, frame.data);
      this.#holdStdin(client, device);
      return;
    }
    for (const payload of inputPayloads(frame, request.id))
      device.send({ type: 'command_input', request_id: request.id, payload });
    this.#holdStdin(client, device);
    // A device without bytes does not report what its command took: the client's window counts
    // the bytes as taken once they are on their way, as command_input always was.
    const forwarded = (this.#stdinForwarded.get(request) ?? 0) + frame.data.length;
    this.#stdinForwarded.set(request, forwarded);
    client.send(
      withRequestId(
        { type: 'input_consumed', payload: { bytes: forwarded } },
        request.clientRequestId,
      ),
    );
  }

  /**
   * Stdin is never refused or dropped: while the device's link is backed up the client that
   * feeds it is not read (TCP pushes back on it; `exec` stops reading its stdin), until the
   * device drains or goes away. A paused client adds at most the one frame it was read with.
   */
  #holdStdin(client: ClientLink, device: DeviceLink): void {
    if (!device.backedUp || !device.onDrain || !client.pauseReading) return;
    const held = this.#stdinHeld.get(device) ?? new Set<ClientLink>();
    if (held.has(client)) return;
    if (held.size === 0) {
      this.#stdinHeld.set(device, held);
      const stop = device.onDrain(() => {
        stop();
        this.#releaseStdin(device);
      });
    }
    held.add(client);
    client.pauseReading();
  }

  #releaseStdin(device: DeviceLink): void {
    const held = this.#stdinHeld.get(device);
    this.#stdinHeld.delete(device);
    for (const client of held ?? []) client.resumeReading?.();
  }

  clientClosed(link: ClientLink, code: number, reason: string): void {
    this.#pushBack.release(link);
    for (const held of this.#stdinHeld.values()) held.delete(link);
    const subscriptions = this.subscriptions.removeClient(link);
    const requests = this.requests.closeForClient(link);
    for (const request of requests) this.#abandon(request);
    this.#logger.info(
      {
        clientId: link.id,
        closeCode: code,
        reason,
        subscriptions: subscriptions.length,
        pending: requests.length,
      },
      'stream client disconnected',
    );
  }

  #subscribe(client: ClientLink, frame: ParsedFrame): void {
    const { device_id, streams, interval_ms } = frame.payload as SubscribePayload;
    if (!this.devices.isKnown(device_id)) {
      client.refuse(frameError(ErrorCode.unknownDevice, `unknown device "${device_id}"`, frame));
      return;
    }
    if (streams.length === 0) {
      client.refuse(
        frameError(
          ErrorCode.invalidPayload,
          'subscribe: payload.streams: expected at least one stream',
          frame,
        ),
      );
      return;
    }
    if (this.subscriptions.countFor(client) >= this.#maxSubscriptionsPerClient) {
      client.refuse(
        frameError(
          ErrorCode.tooManySubscriptions,
          `a client may hold ${this.#maxSubscriptionsPerClient} subscriptions; unsubscribe first`,
          frame,
        ),
      );
      return;
    }
    // By the device's last hello, also while it is offline. A device that has not said hello
    // since the hub started may offer anything: all are taken (the agent samples on demand).
    const hello = this.devices.record(device_id)?.hello;
    const offer = hello ? offeredStreams(hello.capabilities) : null;
    const { offered, unavailable } = offer
      ? splitByOffer(streams, offer)
      : { offered: streams, unavailable: [] };
    if (offer && offered.length === 0) {
      client.refuse(
        frameError(
          ErrorCode.unknownStream,
          `device "${device_id}" does not offer ${namesList(unavailable)}; it offers: ${namesList(offer) || 'none'}`,
          frame,
        ),
      );
      return;
    }
    const subscription = this.subscriptions.add(client, device_id, offered, interval_ms);
    const payload: Record<string, unknown> = { subscription_id: subscription.id };
    if (unavailable.length > 0) payload.unavailable = unavailable;
    this.#whenHeard(device_id, () =>
      client.send(withRequestId({ type: 'subscribed', payload }, frame.request_id)),
    );
  }

  #unsubscribe(client: ClientLink, frame: ParsedFrame): void {
    const { subscription_id } = frame.payload as { subscription_id: string };
    if (!this.subscriptions.remove(client, subscription_id)) {
      client.refuse(
        frameError(
          ErrorCode.unknownSubscription,
          `no subscription "${subscription_id}" on this connection`,
          frame,
        ),
      );
      return;
    }
    client.send(
      withRequestId({ type: 'unsubscribed', payload: { subscription_id } }, frame.request_id),
    );
  }

  /**
   * Forwards the client's whole payload (`command` or `app_command`) to the agent under a hub
   * request_id, with the same type.
   */
  #command(client: ClientLink, frame: ParsedFrame): void {
    const { device_id } = frame.payload as { device_id: string };
    if (!this.devices.isKnown(device_id)) {
      client.refuse(frameError(ErrorCode.unknownDevice, `unknown device "${device_id}"`, frame));
      return;
    }
    const device = this.devices.onlineLink(device_id);
    if (!device) {
      client.refuse(
        frameError(ErrorCode.deviceOffline, `device "${device_id}" is not connected`, frame),
      );
      return;
    }
    if (
      frame.request_id !== undefined &&
      this.requests.findByClientRequest(client, frame.request_id)
    ) {
      client.refuse(
        frameError(
          ErrorCode.duplicateRequest,
          `request_id "${frame.request_id}" is already in use by a pending request`,
          frame,
        ),
      );
      return;
    }
    if (!this.#deviceCanTake(client, device, frame)) return;
    if (this.requests.countForClient(client) >= this.#maxRequestsPerClient) {
      client.refuse(
        frameError(
          ErrorCode.tooManyRequests,
          `a client may have ${this.#maxRequestsPerClient} requests waiting for devices`,
          frame,
        ),
      );
      return;
    }
    const kind = FORWARDED_KIND[frame.type] ?? 'command';
    const session = kind === 'session' ? (frame.payload as SessionForwardPayload) : undefined;
    const sessionKind = session ? (session.kind ?? DEFAULT_SESSION_KIND) : undefined;
    if (sessionKind === 'shell' && (session?.rows === undefined || session.cols === undefined)) {
      client.refuse(
        frameError(
          ErrorCode.invalidPayload,
          'session_open: rows and cols are required for a shell session',
          frame,
        ),
      );
      return;
    }
    const carriesBytes = kind === 'command' || kind === 'session';
    const clientStream = carriesBytes ? (frame.payload as { stream?: number }).stream : undefined;
    if (clientStream !== undefined && this.requests.byClientStream(client, clientStream)) {
      client.refuse(
        frameError(
          ErrorCode.invalidPayload,
          `${frame.type}: stream ${clientStream} is already used by an open request on this connection`,
          frame,
        ),
      );
      return;
    }
    const request = this.requests.open(
      kind,
      client,
      frame.request_id,
      device,
      { device: carriesBytes && device.speaksBytes === true, client: clientStream },
      sessionKind,
    );
    const payload = { ...originalPayload(frame) };
    // The device's stream number is the hub's: the client's own never reaches the device.
    delete payload.stream;
    if (request.deviceStream !== undefined) payload.stream = request.deviceStream;
    // Who asked is the hub's to say (the device logs it), never the client's.
    if (session) payload.requested_by = requestedBy(client);
    let sent: boolean;
    try {
      sent = device.send({ type: frame.type, request_id: request.id, payload });
    } catch (err) {
      // Nothing went out: a request left open would refuse the request_id for ever. The client's
      // peer answers the throw (internal_error, and the command's done).
      this.requests.close(request.id);
      throw err;
    }
    if (!sent) {
      this.requests.close(request.id);
      client.refuse(
        frameError(ErrorCode.deviceOffline, `device "${device_id}" is not connected`, frame),
      );
    }
  }

  /**
   * `command_cancel` / `command_input` for one of the client's running commands: forwarded on
   * the command's request, under the hub's request_id. The answer, if any, is the command's own
   * (`command_done` with `cancelled`, more output).
   */
  #followUp(client: ClientLink, frame: ParsedFrame): void {
    const target = (frame.payload as { request_id?: string }).request_id ?? frame.request_id;
    const request =
      target === undefined ? undefined : this.requests.findByClientRequest(client, target);
    const kind = frame.type.startsWith('session_') ? 'session' : 'command';
    const noun = kind === 'session' ? 'session' : 'command';
    if (!request || request.kind !== kind) {
      client.refuse(
        frameError(
          ErrorCode.unknownRequest,
          target === undefined
            ? `${frame.type}: request_id is required (the ${noun}'s)`
            : `${frame.type}: no open ${noun} with request_id "${target}"`,
          frame,
        ),
      );
      return;
    }
    if (kind === 'session' && !this.#sessionLinkUp(request)) {
      this.#holdSessionFollowUp(request, frame);
      return;
    }
    // Cancelling frees the device; input adds to what it has not read.
    if (
      (frame.type === 'command_input' || frame.type === 'session_input') &&
      !this.#deviceCanTake(client, request.device, frame)
    )
      return;
    request.device.send({
      type: frame.type,
      request_id: request.id,
      payload: { ...originalPayload(frame), request_id: request.id },
    });
  }

  /** Whether a session's device link is the device's live one (not a closed, dropped one). */
  #sessionLinkUp(request: ForwardedRequest<ClientLink, DeviceLink>): boolean {
    return this.devices.onlineLink(request.device.deviceId) === request.device;
  }

  /**
   * A session's input while its device is away. A terminal's keystrokes past the bound are
   * dropped, as a terminal would under a flood; a bulk session's client keeps no more than its
   * window in flight, so input past the window cannot be held without losing bytes the transfer
   * needs: that session is ended (`data_lost`) instead of going on with a hole.
   */
  #holdKeys(request: ForwardedRequest<ClientLink, DeviceLink>, bytes: Uint8Array): void {
    if (request.sessionKind === 'shell') {
      if (!this.#heldSessionInput.keys(request, bytes))
        this.#logger.debug(
          { deviceId: request.device.deviceId, bytes: bytes.length },
          'keystrokes for a session whose device is away dropped: too many held',
        );
      return;
    }
    if (this.#heldSessionInput.keys(request, bytes, SESSION_WINDOW_BYTES)) return;
    const message = `more than ${SESSION_WINDOW_BYTES} bytes of input arrived for a ${request.sessionKind} session while its device was away (its window)`;
    this.#logger.warn({ code: ErrorCode.dataLost, deviceId: request.device.deviceId }, message);
    this.#heldSessionInput.take(request);
    this.requests.close(request.id);
    this.#orphanSessions.add(request.device.deviceId, request.id);
    this.#endRequest(request, { code: ErrorCode.dataLost, message });
  }

  /** `session_input`, `session_resize` or `session_close` while the device's link is down. */
  #holdSessionFollowUp(
    request: ForwardedRequest<ClientLink, DeviceLink>,
    frame: ParsedFrame,
  ): void {
    if (frame.type === 'session_input') {
      const { data } = frame.payload as { data: string };
      this.#holdKeys(request, Buffer.from(data, 'base64'));
    } else if (frame.type === 'session_resize') {
      this.#heldSessionInput.resize(request, frame.payload as { rows: number; cols: number });
    } else if (frame.type === 'session_ack') {
      this.#heldSessionInput.ack(request, (frame.payload as { bytes: number }).bytes);
    } else this.#heldSessionInput.close(request);
  }

  /** Once the device is back on a new link: what its session's client sent meanwhile. */
  #sendHeldSessionInput(request: ForwardedRequest<ClientLink, DeviceLink>): void {
    if (request.kind !== 'session') return;
    const held = this.#heldSessionInput.take(request);
    if (!held) return;
    if (held.size > 0) this.#sendSessionKeys(request, Buffer.concat(held.bytes));
    const id = request.id;
    if (held.eof && request.deviceStream !== undefined && request.device.sendBytes)
      request.device.sendBytes(
        encodeByteFrame({
          kind: ByteKind.eof,
          stream: request.deviceStream,
          fd: ByteFd.stdin,
          seq: 0,
          data: new Uint8Array(0),
        }),
      );
    if (held.ack !== null)
      request.device.send({
        type: 'session_ack',
        request_id: id,
        payload: { request_id: id, bytes: held.ack },
      });
    if (held.resize)
      request.device.send({
        type: 'session_resize',
        request_id: id,
        payload: { request_id: id, ...held.resize },
      });
    if (held.close) this.#closeSession(request.device, id);
  }

  /** Keystrokes to the session's device: a binary frame where its link has them, else JSON. */
  #sendSessionKeys(request: ForwardedRequest<ClientLink, DeviceLink>, bytes: Uint8Array): void {
    const { device } = request;
    if (request.deviceStream !== undefined && device.speaksBytes && device.sendBytes) {
      const frame = { kind: ByteKind.data, stream: request.deviceStream, fd: ByteFd.stdin, seq: 0 };
      for (let at = 0; at < bytes.length; at += MAX_BYTE_FRAME_DATA)
        device.sendBytes(
          encodeByteFrame({ ...frame, data: bytes.subarray(at, at + MAX_BYTE_FRAME_DATA) }),
        );
      return;
    }
    const frame = { kind: ByteKind.data, stream: 1, fd: ByteFd.stdin, seq: 0, data: bytes };
    for (const payload of inputPayloads(frame, request.id, SESSION_INPUT_PIECE_BYTES))
      device.send({
        type: 'session_input',
        request_id: request.id,
        payload: { request_id: request.id, data: payload.data },
      });
  }

  /**
   * A device that does not read what the hub sends it gets no more requests: refused at once
   * with `device_busy` rather than queued at the hub.
   */
  #deviceCanTake(client: ClientLink, device: DeviceLink, frame: ParsedFrame): boolean {
    if (!device.backedUp) return true;
    client.refuse(
      frameError(
        ErrorCode.deviceBusy,
        `device "${device.deviceId}" is not reading what it is sent; try again later`,
        frame,
      ),
    );
    return false;
  }

  /** The client of an open request went away: its command is cancelled on the device. */
  #abandon(request: ForwardedRequest<ClientLink, DeviceLink>): void {
    this.#logger.debug(
      { deviceId: request.device.deviceId, kind: request.kind },
      'request abandoned by its client',
    );
    if (request.kind === 'session' && !this.#sessionLinkUp(request)) {
      this.#orphanSessions.add(request.device.deviceId, request.id);
      return;
    }
    const cancel = CANCEL_TYPE[request.kind];
    if (cancel !== undefined) {
      request.device.send({
        type: cancel,
        request_id: request.id,
        payload: { request_id: request.id },
      });
    }
  }
}

/** A shell session's frames from the device, relayed to its client only. */
const SESSION_FRAMES = new Set(['session_opened', 'session_output', 'session_done']);

/** The forwarded request a client's opening frame makes. */
const FORWARDED_KIND: Record<string, RequestKind> = {
  command: 'command',
  app_command: 'app_command',
  session_open: 'session',
};

/** What tells the device that a request's client has gone (an app_command just ends). */
const CANCEL_TYPE: Partial<Record<RequestKind, string>> = {
  command: 'command_cancel',
  session: 'session_close',
};

/** Who opened a session, as the device's log says it: the client's id and address. */
function requestedBy(client: ClientLink): string {
  const who =
    client.remote === undefined
      ? `client ${client.id}`
      : `client ${client.id} from ${client.remote}`;
  return who.slice(0, MAX_REQUESTED_BY_CHARS);
}

/** `"a", "b"` — clipped, so that a long list does not make a long error. */
function namesList(names: readonly string[], max = 20): string {
  const shown = names.slice(0, max).map((name) => `"${name}"`);
  if (names.length > max) shown.push(`… (${names.length - max} more)`);
  return shown.join(', ');
}

function frameError(code: ErrorCode, message: string, frame: ParsedFrame): FrameError {
  const error: FrameError = { code, message, type: frame.type };
  if (frame.request_id !== undefined) error.request_id = frame.request_id;
  return error;
}

/** Keystrokes per JSON `session_input` (base64 under MAX_SESSION_INPUT_CHARS). */
const SESSION_INPUT_PIECE_BYTES = 3 * 64 * 1024;

/** A `session_output` for a JSON client, from a terminal's bytes. */
function sessionOutputMessage(
  data: Uint8Array,
  requestId: string | undefined,
  seq: number,
): Message {
  const message = withRequestId(
    {
      type: 'session_output',
      payload: { data: Buffer.from(data.buffer, data.byteOffset, data.length).toString('base64') },
    },
    requestId,
  );
  return withSeq(message, seq);
}

/** A `command_output` for a JSON client, from bytes (the device's seq, as on a relayed frame). */
function outputMessage(payload: object, requestId: string | undefined, seq: number): Message {
  return withSeq(
    withRequestId({ type: 'command_output', payload: { ...payload } }, requestId),
    seq,
  );
}

/** The device's seq on a message made from its bytes (0: none, as for a flushed remainder). */
function withSeq(message: Message, seq: number): Message {
  return seq > 0 ? Object.assign(message, { seq }) : message;
}

function withRequestId(message: Message, requestId: string | undefined): Message {
  if (requestId !== undefined) message.request_id = requestId;
  return message;
}

/**
 * A relayed device frame carries the device's `seq` (an extra envelope field), so a stream
 * client can see a gap or a repeat for itself.
 */
function withDeviceSeq(message: Message, frame: ParsedFrame): Message {
  const { seq } = frame.raw;
  return typeof seq === 'number' ? Object.assign(message, { seq }) : message;
}

/**
 * The payload as the sender wrote it: a relay passes on fields it does not know itself (the
 * validators only vouch for the ones it forwards by). Envelope fields (`channel`, `ts`, `seq`)
 * stay behind.
 */
function originalPayload(frame: ParsedFrame): Record<string, unknown> {
  return isPlainObject(frame.raw.payload) ? frame.raw.payload : frame.payload;
}
