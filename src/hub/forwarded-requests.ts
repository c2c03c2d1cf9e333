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
 */
export const REQUEST_KINDS = {
  command: {
    replies: ['command_output', 'command_done', 'error'],
    final: ['command_done', 'error'],
  },
  app_command: {
    replies: ['app_command_done', 'error'],
    final: ['app_command_done', 'error'],
  },
  session: {
    replies: ['session_opened', 'session_output', 'session_done', 'error'],
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

  constructor(ids: IdSource) {
    this.#ids = ids;
  }

  open(
    kind: RequestKind,
    client: C,
    clientRequestId: string | undefined,
    device: D,
  ): ForwardedRequest<C, D> {
    const id = uniqueId(this.#ids, 'req', (candidate) => this.#byId.has(candidate));
    const request: ForwardedRequest<C, D> = {
      id,
      kind,
      client,
      clientRequestId,
      device,
      unconfirmed: false,
    };
    this.#byId.set(id, request);
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

  #delete(request: ForwardedRequest<C, D>): void {
    this.#byId.delete(request.id);
    this.#byClient.delete(request.client, request);
    this.#byDevice.delete(request.device, request);
  }
}
