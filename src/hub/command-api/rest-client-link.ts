import { FrameSubmission } from '../frame-submission.js';
import type { Logger } from 'pino';
import type { Message } from '../../protocol/message.js';
import type { FrameError, ParsedFrame } from '../../protocol/parse.js';
import type { ClientEvents, ClientLink } from '../links.js';
import type { CommandResults, OutputFd } from './command-results.js';

/**
 * The Command API as one stream client of the broker, in process: its requests take the same
 * path as a `/v1/stream` client's (device routing, the per-client request limit, `device_busy`,
 * cancel, `request_lost`, the route grace), on a plain hub and on a hub on an MQTT broker alike.
 * The client's request_id of each forwarded request is the REST command's id.
 *
 * The broker answers a request it refuses at once, inside `clientFrame`: `submit` hands that
 * refusal back to the HTTP handler. Everything later (output, the ending, an error that ends a
 * request) arrives through `send` and goes into the result store. The link never backs up: the
 * store keeps what it is sent within its own bounds, so a device is never paused for it.
 */
export interface RestClientLinkOptions {
  id: string;
  events: ClientEvents;
  results: CommandResults;
  logger: Logger;
}

export class RestClientLink implements ClientLink {
  readonly id: string;
  readonly backedUp = false;
  readonly #o: RestClientLinkOptions;
  readonly #submission: FrameSubmission;

  constructor(options: RestClientLinkOptions) {
    this.#o = options;
    this.id = options.id;
    this.#submission = new FrameSubmission(options.logger, 'command API request');
  }

  /** Hands `frame` to the broker; the refusal it answered with, or null when it went on. */
  submit(frame: ParsedFrame): FrameError | null {
    return this.#submission.submit(frame, (f) => this.#o.events.clientFrame(this, f));
  }

  send(message: Message): boolean {
    const id = message.request_id;
    if (id === undefined) return true;
    const { payload } = message;
    switch (message.type) {
      case 'command_output':
        this.#o.results.output(id, outputFd(payload.fd), chunkBytes(payload));
        break;
      case 'command_done':
      case 'app_command_done':
        this.#o.results.end(id, payload);
        break;
      case 'error':
        // A command's error is followed by its command_done with the same error (the broker's
        // command-endings); an app_command's error is its ending.
        if (this.#o.results.kind(id) === 'app_command')
          this.#o.results.end(id, { error: { code: payload.code, message: payload.message } });
        break;
    }
    return true;
  }

  /** The Command API subscribes to nothing: nothing is offered to it. */
  offer(): boolean {
    return false;
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

function outputFd(fd: unknown): OutputFd {
  return fd === 'stderr' ? 'stderr' : 'stdout';
}

/** A chunk's bytes: UTF-8 text, or base64 when the agent says so (bytes not valid UTF-8). */
function chunkBytes(payload: Record<string, unknown>): Buffer {
  const chunk = typeof payload.chunk === 'string' ? payload.chunk : '';
  return Buffer.from(chunk, payload.encoding === 'base64' ? 'base64' : 'utf8');
}
