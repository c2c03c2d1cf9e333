import type { Logger } from 'pino';
import { ErrorCode } from '../protocol/error-codes.js';
import type { ParsedFrame } from '../protocol/parse.js';
import { streamNumber } from '../protocol/byte-frame.js';
import { anyObject, type Validator } from '../protocol/schema.js';
import {
  DEFAULT_SESSION_KIND,
  MAX_REQUESTED_BY_CHARS,
  SESSION_KINDS,
  sessionAckPayload,
  sessionClosePayload,
  sessionInputPayload,
  sessionResizePayload,
} from '../protocol/sessions.js';
import type { Router } from './router.js';

/**
 * Sessions of every kind (docs/protocol.md, "Sessions"): one `session_open` handler that hands
 * the request to the feature serving its `kind` (a terminal, a file, a TCP connection, an
 * update), and the follow-ups (`session_input`, `session_resize`, `session_close`,
 * `session_ack`) routed by request_id to the session that feature is tracking. Binary frames are
 * not routed here: a session opens its stream number on the Router itself.
 *
 * The core owns the message types so that features never register the same type twice and know
 * nothing of each other; a kind no feature serves is refused by name.
 */

/** What a session of any kind does with its client's follow-ups. */
export interface SessionFollower {
  /** `session_input`: bytes a client without binary frames sent (already base64-decoded). */
  input?(bytes: Buffer): void;
  resize?(size: { rows: number; cols: number }): void;
  /** `session_ack`: the client has taken this many output bytes (cumulative). */
  ack?(bytes: number): void;
  /** `session_close`: the client ends the session; its `session_done` follows. */
  close(): void;
}

export interface SessionOpenRequest {
  requestId: string;
  /** Who asked, as the hub says (logged with the session); undefined from an older hub. */
  requestedBy: string | undefined;
  /**
   * The number the session's binary frames use, when the link speaks them and the open named
   * one (free: the core refused a taken one); null: the session's bytes go as JSON.
   */
  stream: number | null;
}

export interface SessionKindHandler<P> {
  /** The whole `session_open` payload of this kind (the hub checked only the device and kind). */
  readonly payload: Validator<P>;
  open(payload: P, request: SessionOpenRequest, frame: ParsedFrame): void;
}

/** The part features see (on AgentContext). */
export interface SessionRegistry {
  /** Serves `session_open` of this kind; once per kind. */
  register<P>(kind: string, handler: SessionKindHandler<P>): void;
  /** Routes the follow-ups of `requestId` to `follower` until the returned function is called. */
  track(requestId: string, follower: SessionFollower): () => void;
}

export type SessionErrorReply = (requestId: string, code: ErrorCode, message: string) => void;

export class SessionKinds implements SessionRegistry {
  readonly #handlers = new Map<string, SessionKindHandler<unknown>>();
  readonly #followers = new Map<string, SessionFollower>();
  readonly #router: Router;
  readonly #logger: Logger;
  readonly #refuse: SessionErrorReply;
  readonly #speaksBytes: () => boolean;

  constructor(
    router: Router,
    logger: Logger,
    refuse: SessionErrorReply,
    speaksBytes: () => boolean,
  ) {
    this.#router = router;
    this.#logger = logger;
    this.#refuse = refuse;
    this.#speaksBytes = speaksBytes;
    // Each kind's validator checks the payload; here it only has to be an object.
    router.register('session_open', anyObject(), (payload, frame) => this.#open(payload, frame));
    router.register('session_input', sessionInputPayload, (payload, frame) =>
      this.#follower(payload.request_id, frame)?.input?.(Buffer.from(payload.data, 'base64')),
    );
    router.register('session_resize', sessionResizePayload, (payload, frame) =>
      this.#follower(payload.request_id, frame)?.resize?.(payload),
    );
    router.register('session_ack', sessionAckPayload, (payload, frame) =>
      this.#follower(payload.request_id, frame)?.ack?.(payload.bytes),
    );
    router.register('session_close', sessionClosePayload, (payload, frame) =>
      this.#follower(payload.request_id, frame)?.close(),
    );
  }

  register<P>(kind: string, handler: SessionKindHandler<P>): void {
    if (this.#handlers.has(kind)) throw new Error(`session kind "${kind}" is already served`);
    this.#handlers.set(kind, handler as SessionKindHandler<unknown>);
  }

  track(requestId: string, follower: SessionFollower): () => void {
    if (this.#followers.has(requestId))
      throw new Error(`session "${requestId}" is already tracked`);
    this.#followers.set(requestId, follower);
    return () => {
      if (this.#followers.get(requestId) === follower) this.#followers.delete(requestId);
    };
  }

  #open(payload: Record<string, unknown>, frame: ParsedFrame): void {
    const requestId = frame.request_id;
    if (requestId === undefined) {
      this.#logger.warn({ code: ErrorCode.invalidPayload }, 'session_open without a request_id');
      return;
    }
    const kind = payload.kind ?? DEFAULT_SESSION_KIND;
    const handler = typeof kind === 'string' ? this.#handlers.get(kind) : undefined;
    if (!handler) {
      const known = (SESSION_KINDS as readonly unknown[]).includes(kind);
      const message = known
        ? `this agent does not serve ${String(kind)} sessions`
        : `session_open: unknown kind ${JSON.stringify(kind)?.slice(0, 64)} (expected one of ${SESSION_KINDS.join(', ')})`;
      this.#logger.warn({ code: ErrorCode.invalidPayload, request_id: requestId }, message);
      this.#refuse(requestId, ErrorCode.invalidPayload, message);
      return;
    }
    const refuse = (message: string): void => {
      this.#logger.warn({ code: ErrorCode.invalidPayload, request_id: requestId }, message);
      this.#refuse(requestId, ErrorCode.invalidPayload, message);
    };
    const checked = handler.payload(payload, 'payload');
    if (!checked.ok) return refuse(checked.error);
    const named = streamNumber()(payload.stream, 'payload.stream');
    if (payload.stream !== undefined && !named.ok) return refuse(named.error);
    // On a link with binary frames the session's bytes travel raw under the hub's number.
    const stream = named.ok && this.#speaksBytes() ? named.value : null;
    if (stream !== null && this.#router.hasStream(stream))
      return refuse(`session_open: stream ${stream} is already open`);
    const requestedBy =
      typeof payload.requested_by === 'string'
        ? payload.requested_by.slice(0, MAX_REQUESTED_BY_CHARS)
        : undefined;
    handler.open(checked.value, { requestId, requestedBy, stream }, frame);
  }

  /** The session a follow-up names (the payload's request_id, or else the envelope's). */
  #follower(id: string | undefined, frame: ParsedFrame): SessionFollower | undefined {
    const requestId = id ?? frame.request_id;
    const follower = requestId === undefined ? undefined : this.#followers.get(requestId);
    // No error frame: the hub would relay it as the end of a session that may still run.
    if (!follower)
      this.#logger.debug({ request_id: requestId, type: frame.type }, 'no such session');
    return follower;
  }
}
