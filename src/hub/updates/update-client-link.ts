import { FrameSubmission } from '../frame-submission.js';
import type { Logger } from 'pino';
import type { Message } from '../../protocol/message.js';
import type { FrameError, ParsedFrame } from '../../protocol/parse.js';
import type { ByteFrame } from '../../protocol/byte-frame.js';
import type { ClientEvents, ClientLink } from '../links.js';

/**
 * The update manager as one stream client of the broker, in process (as the Command API's
 * RestClientLink): its `session_open` {kind: "update"} takes the path of any client's session
 * (device routing, the route grace across a link drop, held input, `session_done` exactly once),
 * and the artifact's bytes go in as a client's fd 0 frames. Replies come back through `send`,
 * by the session's request_id, to the listener the manager registered for it.
 *
 * The broker pauses a client whose stdin goes to a backed-up device (`pauseReading`): here that
 * pauses every sender of this link until the device drains (`resumeReading`).
 */
export interface UpdateClientLinkOptions {
  id: string;
  events: ClientEvents;
  logger: Logger;
}

export type ReplyListener = (message: Message) => void;

export class UpdateClientLink implements ClientLink {
  readonly id: string;
  readonly backedUp = false;
  readonly #o: UpdateClientLinkOptions;
  readonly #listeners = new Map<string, ReplyListener>();
  readonly #resume = new Set<() => void>();
  #paused = false;
  readonly #submission: FrameSubmission;

  constructor(options: UpdateClientLinkOptions) {
    this.#o = options;
    this.id = options.id;
    this.#submission = new FrameSubmission(options.logger, 'update request');
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Hands `frame` to the broker; the refusal it answered with, or null when it went on. */
  submit(frame: ParsedFrame): FrameError | null {
    return this.#submission.submit(frame, (f) => this.#o.events.clientFrame(this, f));
  }

  /** One input frame of an open session (the broker routes it by the stream number). */
  sendInput(frame: ByteFrame): void {
    this.#o.events.clientBytes(this, frame);
  }

  listen(requestId: string, listener: ReplyListener): () => void {
    this.#listeners.set(requestId, listener);
    return () => {
      if (this.#listeners.get(requestId) === listener) this.#listeners.delete(requestId);
    };
  }

  /** Runs `listener` once when the broker lets this link send again. */
  whenResumed(listener: () => void): void {
    this.#resume.add(listener);
  }

  send(message: Message): boolean {
    const id = message.request_id;
    if (id !== undefined) this.#listeners.get(id)?.(message);
    return true;
  }

  /** Nothing is offered to the update manager: it subscribes to nothing. */
  offer(): boolean {
    return false;
  }

  /** A device's output for an update session (it sends none): dropped. */
  sendBytes(): boolean {
    return true;
  }

  pauseReading(): void {
    this.#paused = true;
  }

  resumeReading(): void {
    this.#paused = false;
    const listeners = [...this.#resume];
    this.#resume.clear();
    for (const listener of listeners) listener();
  }

  onDrain(): () => void {
    return () => {};
  }

  refuse(error: FrameError): void {
    this.#submission.refused(error);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
