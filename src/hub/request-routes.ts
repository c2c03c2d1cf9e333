import { uniqueId, type IdSource } from './ids.js';
import { MultiMap } from './multi-map.js';

/**
 * Requests the hub forwards from a `/v1/stream` client to a device, and routes the device's
 * replies back along.
 *
 * The hub gives each forwarded request its own `request_id` (the route id), so two clients
 * that happen to use the same request_id never collide; replies are relayed to the route's
 * client under the client's own request_id. A route is bound to the device link that got the
 * request; when the device reconnects (its spool resends the replies still owed), the broker
 * moves the route to the new link with `rebind`.
 *
 * Each kind of request names the frame types that answer it and those that end it. Later
 * kinds (`app_command`) go through the same table; `command_cancel` and `command_input` are
 * sent on an open `command` route and have no replies of their own.
 */
export const ROUTE_KINDS = {
  command: {
    replies: ['command_output', 'command_done', 'error'],
    final: ['command_done', 'error'],
  },
  app_command: {
    replies: ['app_command_done', 'error'],
    final: ['app_command_done', 'error'],
  },
} as const satisfies Record<string, { replies: readonly string[]; final: readonly string[] }>;

export type RouteKind = keyof typeof ROUTE_KINDS;

export interface Route<C, D> {
  /** The hub's request_id towards the device. */
  readonly id: string;
  readonly kind: RouteKind;
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

export function isReply(kind: RouteKind, type: string): boolean {
  return (ROUTE_KINDS[kind].replies as readonly string[]).includes(type);
}

export function isFinalReply(kind: RouteKind, type: string): boolean {
  return (ROUTE_KINDS[kind].final as readonly string[]).includes(type);
}

export class RequestRoutes<C, D> {
  readonly #ids: IdSource;
  readonly #byId = new Map<string, Route<C, D>>();
  readonly #byClient = new MultiMap<C, Route<C, D>>();
  readonly #byDevice = new MultiMap<D, Route<C, D>>();

  constructor(ids: IdSource) {
    this.#ids = ids;
  }

  open(kind: RouteKind, client: C, clientRequestId: string | undefined, device: D): Route<C, D> {
    const id = uniqueId(this.#ids, 'req', (candidate) => this.#byId.has(candidate));
    const route: Route<C, D> = { id, kind, client, clientRequestId, device, unconfirmed: false };
    this.#byId.set(id, route);
    this.#byClient.add(client, route);
    this.#byDevice.add(device, route);
    return route;
  }

  get(id: string): Route<C, D> | undefined {
    return this.#byId.get(id);
  }

  /** The client's open route with this request_id, if any (a request_id in use is refused). */
  findByClientRequest(client: C, clientRequestId: string): Route<C, D> | undefined {
    for (const route of this.#byClient.get(client)) {
      if (route.clientRequestId === clientRequestId) return route;
    }
    return undefined;
  }

  close(id: string): Route<C, D> | undefined {
    const route = this.#byId.get(id);
    if (route) this.#delete(route);
    return route;
  }

  /** Closes and returns every route of a client (it disconnected). */
  closeForClient(client: C): Route<C, D>[] {
    const routes = this.#byClient.get(client);
    for (const route of routes) this.#delete(route);
    return routes;
  }

  /** How many routes the client has open. */
  countForClient(client: C): number {
    return this.#byClient.count(client);
  }

  /** Open routes to a device link. */
  forDevice(device: D): Route<C, D>[] {
    return this.#byDevice.get(device);
  }

  /**
   * Moves every route whose device link matches `from` to the link `to` (a reconnect); returns
   * the routes moved.
   */
  rebind(from: (device: D) => boolean, to: D): Route<C, D>[] {
    const moved: Route<C, D>[] = [];
    for (const route of this.#byId.values()) {
      if (route.device === to || !from(route.device)) continue;
      this.#byDevice.delete(route.device, route);
      route.device = to;
      this.#byDevice.add(to, route);
      moved.push(route);
    }
    return moved;
  }

  /** Closes and returns every route to a device link (it disconnected). */
  closeForDevice(device: D): Route<C, D>[] {
    const routes = this.#byDevice.get(device);
    for (const route of routes) this.#delete(route);
    return routes;
  }

  get size(): number {
    return this.#byId.size;
  }

  #delete(route: Route<C, D>): void {
    this.#byId.delete(route.id);
    this.#byClient.delete(route.client, route);
    this.#byDevice.delete(route.device, route);
  }
}
