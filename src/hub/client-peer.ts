import { ErrorCode } from '../protocol/error-codes.js';
import { fromClientValidators } from '../protocol/from-client.js';
import { errorMessage, type Message } from '../protocol/message.js';
import { parseFrame, type FrameError } from '../protocol/parse.js';
import { refusalEnding } from './command-endings.js';
import type { ClientEvents, ClientLink } from './links.js';
import { decodeByteFrame } from '../protocol/byte-frame.js';
import { PeerSocket, peerSettings, type PeerSettings, type PeerStats } from './peer-socket.js';

/**
 * One backend client on `/v1/stream` (already authenticated by API key). Every frame is
 * validated with `fromClientValidators` and handed to the broker; a bad frame, or a handler
 * that throws, is answered with an `error` frame carrying the request's `request_id`, and the
 * connection stays up. A refused `command` also gets its `command_done` (see command-endings).
 */
export interface ClientPeerOptions extends PeerSettings {
  id: string;
  /** The client's address (the upgrade request's socket), for the logs of what it asks. */
  remote?: string;
  events: ClientEvents;
}

export class ClientPeer implements ClientLink {
  readonly id: string;
  readonly remote: string | undefined;
  readonly #o: ClientPeerOptions;
  readonly #peer: PeerSocket;
  #dropped = 0;

  constructor(options: ClientPeerOptions) {
    this.#o = options;
    this.id = options.id;
    this.remote = options.remote;
    this.#peer = new PeerSocket({
      ...peerSettings(options),
      onText: (text) => this.#onText(text),
      onBinary: (data) => this.#onBinary(data),
      onActivity: () => {},
      onClose: (code, reason) => options.events.clientClosed(this, code, reason),
    });
    this.#peer.onDrain(() => this.#reportDropped());
  }

  /** Starts pinging the client. */
  start(): void {
    this.#peer.start();
  }

  get closed(): Promise<void> {
    return this.#peer.closed;
  }

  stats(): PeerStats {
    return this.#peer.stats('client', this.id, this.#dropped);
  }

  get backedUp(): boolean {
    return this.#peer.backedUp;
  }

  onDrain(listener: () => void): () => void {
    return this.#peer.onDrain(listener);
  }

  /** Sends a frame the client can do without; while it is backed up, drops and counts it. */
  offer(message: Message): boolean {
    if (this.#peer.backedUp) {
      if (this.#peer.state === 'open') this.#dropped++;
      return false;
    }
    return this.#peer.send(message);
  }

  send(message: Message): boolean {
    return this.#peer.send(message);
  }

  sendBytes(frame: Uint8Array): boolean {
    return this.#peer.sendBinary(frame);
  }

  pauseReading(): void {
    this.#peer.pauseReading();
  }

  resumeReading(): void {
    this.#peer.resumeReading();
  }

  refuse(error: FrameError): void {
    this.#o.logger.debug({ code: error.code, type: error.type }, 'request refused');
    if (error.type === 'error') return; // never answer an error with an error: that can loop
    this.#peer.send(errorMessage(error.code, error.message, error.request_id));
    const ending = refusalEnding(error);
    if (ending) this.#peer.send(ending);
  }

  close(code: number, reason: string): Promise<void> {
    return this.#peer.close(code, reason);
  }

  /** Once the client has drained: one frame saying how much it missed. */
  #reportDropped(): void {
    if (this.#dropped === 0) return;
    const dropped = this.#dropped;
    this.#dropped = 0;
    this.#o.logger.warn(
      { code: ErrorCode.framesDropped, dropped },
      'stream client did not read fast enough: telemetry dropped for it',
    );
    const notice = errorMessage(
      ErrorCode.framesDropped,
      `${dropped} telemetry and app event frames were dropped: this connection did not read them fast enough`,
    );
    notice.payload.dropped = dropped;
    this.#peer.send(notice);
  }

  /** Stdin for one of the client's byte streams (see docs/protocol.md, raw bytes). */
  #onBinary(data: Uint8Array): void {
    const result = decodeByteFrame(data);
    if (!result.ok) {
      this.#o.logger.warn({ code: result.error.code }, 'bad binary frame from client');
      this.refuse({ code: result.error.code, message: result.error.message });
      return;
    }
    try {
      this.#o.events.clientBytes(this, result.frame);
    } catch (err) {
      this.#o.logger.error(
        { code: ErrorCode.internalError, err, stream: result.frame.stream },
        'client byte frame handler failed',
      );
    }
  }

  #onText(text: string): void {
    const result = parseFrame(text, fromClientValidators);
    if (!result.ok) {
      this.#o.logger.warn(
        { code: result.error.code, type: result.error.type },
        'bad frame from client',
      );
      this.refuse(result.error);
      return;
    }
    const { frame } = result;
    try {
      this.#o.events.clientFrame(this, frame);
    } catch (err) {
      this.#o.logger.error(
        { code: ErrorCode.internalError, err, type: frame.type },
        'client frame handler failed',
      );
      const error: FrameError = {
        code: ErrorCode.internalError,
        message: `${frame.type}: internal error`,
        type: frame.type,
      };
      if (frame.request_id !== undefined) error.request_id = frame.request_id;
      this.refuse(error);
    }
  }
}
