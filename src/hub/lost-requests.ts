import type { ForwardedRequest, ForwardedRequests } from './forwarded-requests.js';

/**
 * Finds the requests a device lost with a dead link, so that their clients hear so instead of
 * waiting for ever.
 *
 * A request forwarded into a half-open link (the agent's side gone, the hub's not yet) never
 * reaches the agent. It is still moved to the device's next link, because a request
 * that did reach the agent may still be answered there: its replies are spooled and resent.
 * The agent's `hello` says which it is:
 *
 *     hello { open_requests, seq }
 *       rebound request listed in open_requests ──▶ the agent runs it: kept
 *       rebound request not listed              ──▶ unconfirmed: its final reply, if the agent
 *                                                   sent one, has a seq ≤ hello.seq
 *     the hub has processed the device's seq ≥ hello.seq (at once if it already had)
 *       unconfirmed request still open          ──▶ closed and returned: lost
 *
 * A request whose final reply comes in the resend closes as usual and is gone by then. The
 * flag lives on the request (it ends with it); the seq to wait for lives per link and ends
 * when it is reached, when the link closes, or at the link's next hello. Unconfirmed requests
 * whose link closes first are judged again by the device's next hello; if it never comes, the
 * grace (`requestGraceMs`) ends them as `device_offline`. A hello without both fields (an older
 * agent) confirms every request, as before these fields existed.
 */
export interface OpenRequestsClaim {
  /** The hub request_ids the agent holds open. */
  openRequests: readonly string[];
  /** The last seq the agent had given out when it said hello. */
  seq: number;
}

export class LostRequests<C, D> {
  readonly #requests: ForwardedRequests<C, D>;
  /** Per link with unconfirmed requests: the seq after which they are lost. */
  readonly #resendEnds = new Map<D, number>();

  constructor(requests: ForwardedRequests<C, D>) {
    this.#requests = requests;
  }

  /** Links waiting for their resend to pass a hello's seq (for tests and accessors). */
  get pendingLinks(): number {
    return this.#resendEnds.size;
  }

  /**
   * `link` said hello, taking over `rebound` from the device's earlier links, with the hub's
   * cursor for the device at `processedSeq`. Returns the requests lost already (closed).
   */
  hello(
    link: D,
    rebound: readonly ForwardedRequest<C, D>[],
    claim: OpenRequestsClaim | null,
    processedSeq: number,
  ): ForwardedRequest<C, D>[] {
    this.#resendEnds.delete(link);
    // Requests a previous hello on this same link left unconfirmed are judged again by this one.
    const judged = new Set(rebound);
    for (const request of this.#requests.forDevice(link))
      if (request.unconfirmed) judged.add(request);
    const held = new Set(claim?.openRequests ?? []);
    let unconfirmed = 0;
    for (const request of judged) {
      request.unconfirmed = claim !== null && !held.has(request.id);
      if (request.unconfirmed) unconfirmed++;
    }
    if (claim === null || unconfirmed === 0) return [];
    this.#resendEnds.set(link, claim.seq);
    return this.processed(link, processedSeq);
  }

  /** The device's frame `seq` on `link` is processed: returns the requests now lost (closed). */
  processed(link: D, seq: number): ForwardedRequest<C, D>[] {
    const resendEnd = this.#resendEnds.get(link);
    if (resendEnd === undefined || seq < resendEnd) return [];
    this.#resendEnds.delete(link);
    const lost = this.#requests.forDevice(link).filter((request) => request.unconfirmed);
    for (const request of lost) this.#requests.close(request.id);
    return lost;
  }

  linkClosed(link: D): void {
    this.#resendEnds.delete(link);
  }
}

/** What a `hello` claims, or null for a hello without `open_requests` and `seq`. */
export function openRequestsClaim(hello: {
  open_requests?: string[];
  seq?: number;
}): OpenRequestsClaim | null {
  if (hello.open_requests === undefined || hello.seq === undefined) return null;
  return { openRequests: hello.open_requests, seq: hello.seq };
}
