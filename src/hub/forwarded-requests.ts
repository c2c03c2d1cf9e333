import { MAX_STREAM_NUMBER } from '../protocol/byte-frame.js';
import type { SessionKind } from '../protocol/sessions.js';
import { uniqueId, type IdSource } from './ids.js';
import { MultiMap } from './multi-map.js';

/**
 * Requests the hub forwards from a `/v1/stream` client to a device: which client waits for
 * which device's replies.
 *
 * The hub gives each forwarded request its own `request_id` (the hub's id), so two clients
 * that happen to use the same request_id never collide; replies are relayed to the request's
 * client under the client's own request_id. A forwarded request is bound to the device link
 * that got it; when the device reconnects (its spool resends the replies still owed), the
 * broker moves it to the new link with `rebind`.
 *
 * Each kind of request names the frame types that answer it and those that end it. Later
 * kinds (`app_command`, `session`) go through the same table; `command_cancel` and
 * `command_input` (`session_input`, `session_resize`, `session_close`) are sent on an open
 * `command` (`session`) request and have no replies of their own.
 *
 * Raw bytes (docs/protocol.md): a request may carry two stream numbers. `deviceStream` is the
 * hub's, unique among open requests, sent to a device whose link speaks bytes; `clientStream`
 * is the client's own, unique among that client's open requests. Binary frames are routed by
 * them and rewritten from one to the other.
 */
export const REQUEST_KINDS = {
  command: {
    replies: ['command_output', 'input_consumed', 'command_done', 'error'],
    final: ['command_done', 'error'],
  },
  app_command: {
    replies: ['app_command_done', 'error'],
    final: ['app_command_done', 'error'],
  },
  session: {
    replies: ['session_opened', 'session_output', 'input_consumed', 'session_done', 'error'],
    final: ['session_done', 'error'],
  },
} as const satisfies Record<string, { replies: readonly string[]; final: readonly string[] }>;

export type RequestKind = keyof typeof REQUEST_KINDS;

export interface ForwardedRequest<C, D> {
  /** The hub's request_id towards the device. */
  readonly id: string;
  readonly kind: RequestKind;
  readonly client: C;
  /** The client's request_id, echoed on every reply (the client may have sent none). */
  readonly clientRequestId: string | undefined;
  device: D;
  /**
   * Rebound to a device that did not list it in `hello.open_requests`: lost unless its final
   * reply comes in what the device resends (see LostRequests).
   */
  unconfirmed: boolean;
  /** The hub's stream number towards the device (its link speaks bytes), if any. */
  readonly deviceStream: number | undefined;
  /** The client's stream number (it asked for bytes), if any. */
  readonly clientStream: number | undefined;
  /** A session's kind (what carries its bytes on the device); undefined for other requests. */
  readonly sessionKind: SessionKind | undefined;
}

/** The stream numbers a request is opened with. */
export interface RequestStreams {
  /** Give the request a hub stream number for the device. */
  device: boolean;
  client: number | undefined;
}

export function isReply(kind: RequestKind, type: string): boolean {
  return (REQUEST_KINDS[kind].replies as readonly string[]).includes(type);
}

export function isFinalReply(kind: RequestKind, type: string): boolean {
  return (REQUEST_KINDS[kind].final as readonly string[]).includes(type);
}

export class ForwardedRequests<C, D> {
  readonly #ids: IdSource;
  readonly #byId = new Map<string, ForwardedRequest<C, D>>();
  readonly #byClient = new MultiMap<C, ForwardedRequest<C, D>>();
  readonly #byDevice = new MultiMap<D, ForwardedRequest<C, D>>();
  readonly #byDeviceStream = new Map<number, ForwardedRequest<C, D>>();
  readonly #byClientStream = new Map<C, Map<number, ForwardedRequest<C, D>>>();
  #lastDeviceStream: number;

  /**
   * `firstDeviceStream`: where this hub's numbering starts, random by default. An agent keeps a
   * shell session (and its stream number) over a short link drop, also when the hub itself
   * restarted and forgot it; a new hub counting from 1 again gave its first byte request the
   * number of that session, which the agent refused (`stream 1 is already in use`).
   */
  constructor(ids: IdSource, firstDeviceStream = 1 + Math.floor(Math.random() * 2 ** 31)) {
    this.#ids = ids;
    this.#lastDeviceStream = firstDeviceStream - 1;
  }

  open(
    kind: RequestKind,
    client: C,
    clientRequestId: string | undefined,
    device: D,
    streams: RequestStreams = { device: false, client: undefined },
    sessionKind?: SessionKind,
  ): ForwardedRequest<C, D> {
    const id = uniqueId(this.#ids, 'req', (candidate) => this.#byId.has(candidate));
    const request: ForwardedRequest<C, D> = {
      id,
      kind,
      client,
      clientRequestId,
      device,
      unconfirmed: false,
      deviceStream: streams.device ? this.#nextDeviceStream() : undefined,
      clientStream: streams.client,
      sessionKind,
    };
    this.#byId.set(id, request);
    if (request.deviceStream !== undefined) this.#byDeviceStream.set(request.deviceStream, request);
    if (request.clientStream !== undefined) {
      const own = this.#byClientStream.get(client) ?? new Map<number, ForwardedRequest<C, D>>();
      this.#byClientStream.set(client, own);
      own.set(request.clientStream, request);
    }
    this.#byClient.add(client, request);
    this.#byDevice.add(device, request);
    return request;
  }

  get(id: string): ForwardedRequest<C, D> | undefined {
    return this.#byId.get(id);
  }

  /** The client's open request with this request_id, if any (a request_id in use is refused). */
  findByClientRequest(client: C, clientRequestId: string): ForwardedRequest<C, D> | undefined {
    for (const request of this.#byClient.get(client)) {
      if (request.clientRequestId === clientRequestId) return request;
    }
    return undefined;
  }

  /** The open request a device's binary frame belongs to. */
  byDeviceStream(stream: number): ForwardedRequest<C, D> | undefined {
    return this.#byDeviceStream.get(stream);
  }

  /** The client's open request with this stream number (its stdin frames name it). */
  byClientStream(client: C, stream: number): ForwardedRequest<C, D> | undefined {
    return this.#byClientStream.get(client)?.get(stream);
  }

  close(id: string): ForwardedRequest<C, D> | undefined {
    const request = this.#byId.get(id);
    if (request) this.#delete(request);
    return request;
  }

  /** Closes and returns every request of a client (it disconnected). */
  closeForClient(client: C): ForwardedRequest<C, D>[] {
    const requests = this.#byClient.get(client);
    for (const request of requests) this.#delete(request);
    return requests;
  }

  /** How many requests the client has open. */
  countForClient(client: C): number {
    return this.#byClient.count(client);
  }

  /** Open requests to a device link. */
  forDevice(device: D): ForwardedRequest<C, D>[] {
    return this.#byDevice.get(device);
  }

  /**
   * Moves every request whose device link matches `from` to the link `to` (a reconnect); returns
   * the requests moved.
   */
  rebind(from: (device: D) => boolean, to: D): ForwardedRequest<C, D>[] {
    const moved: ForwardedRequest<C, D>[] = [];
    for (const request of this.#byId.values()) {
      if (request.device === to || !from(request.device)) continue;
      this.#byDevice.delete(request.device, request);
      request.device = to;
      this.#byDevice.add(to, request);
      moved.push(request);
    }
    return moved;
  }

  /** Closes and returns every request to a device link (it disconnected). */
  closeForDevice(device: D): ForwardedRequest<C, D>[] {
    const requests = this.#byDevice.get(device);
    for (const request of requests) this.#delete(request);
    return requests;
  }

  /** Every open request. */
  all(): IterableIterator<ForwardedRequest<C, D>> {
    return this.#byId.values();
  }

  get size(): number {
    return this.#byId.size;
  }

  /** The next hub stream number not in use (they wrap at 2^32 - 1, skipping open ones). */
  #nextDeviceStream(): number {
    do {
      this.#lastDeviceStream =
        this.#lastDeviceStream >= MAX_STREAM_NUMBER ? 1 : this.#lastDeviceStream + 1;
    } while (this.#byDeviceStream.has(this.#lastDeviceStream));
    return this.#lastDeviceStream;
  }

  #delete(request: ForwardedRequest<C, D>): void {
    this.#byId.delete(request.id);
    if (request.deviceStream !== undefined) this.#byDeviceStream.delete(request.deviceStream);
    if (request.clientStream !== undefined) {
      const own = this.#byClientStream.get(request.client);
      own?.delete(request.clientStream);
      if (own?.size === 0) this.#byClientStream.delete(request.client);
    }
    this.#byClient.delete(request.client, request);
    this.#byDevice.delete(request.device, request);
  }
}
