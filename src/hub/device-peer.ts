import type { Logger } from 'pino';
import { ErrorCode } from '../protocol/error-codes.js';
import { errorMessage, type Message } from '../protocol/message.js';
import { parseFrame, type FrameError, type ParsedFrame } from '../protocol/parse.js';
import { HELLO, toHubValidators, type HelloPayload } from '../protocol/to-hub.js';
import type { TimerHandle } from '../time/clock.js';
import { seqNumber } from '../protocol/fields.js';
import { ACK_BYTES, AckBatcher } from './ack-batcher.js';
import { welcomeMessage } from './welcome.js';
import type { DeliveryCursors } from './delivery-cursors.js';
import type { DeviceEvents, DeviceLink } from './links.js';
import {
  BINARY_REFUSED,
  PeerSocket,
  peerSettings,
  type PeerSettings,
  type PeerStats,
} from './peer-socket.js';
import { CloseCode } from '../protocol/close-codes.js';
import { BYTES_CAPABILITY, decodeByteFrame } from '../protocol/byte-frame.js';

/**
 * One agent's link on `/v1/device`, already authenticated as `deviceId`:
 *
 *     awaiting_hello ──hello (same device_id)──▶ ready ──▶ closed
 *        │    ├─ hello naming another device → error device_mismatch, close 1008
 *        │    ├─ any other frame → error hello_required (the link stays up)
 *        │    └─ no hello within helloTimeoutMs → error hello_required, close 1008
 *        └───────────────── socket closes ─────────────────────▲
 *
 * Every frame is validated with `toHubValidators`; a bad frame is answered with an `error`
 * frame (an `error` frame never is) and the link stays up.
 *
 * Acknowledged delivery: `welcome` carries the last seq processed from the agent's store; a
 * frame with a `seq` is processed once (DeliveryCursors), then acknowledged in batches. A
 * duplicate is acknowledged and dropped; a refused frame counts as processed (a bad message
 * must never block the ones behind it).
 *
 * Binary frames (raw bytes, docs/protocol.md) are accepted once the hello listed `bytes` and the
 * welcome said so; their header's `seq` is deduplicated and acknowledged like a JSON frame's.
 */
export type DevicePhase = 'awaiting_hello' | 'ready' | 'closed';

export interface DevicePeerOptions extends PeerSettings {
  deviceId: string;
  events: DeviceEvents;
  cursors: DeliveryCursors;
  /** At most one `ack` per this many ms. */
  ackIntervalMs: number;
  /** After the current turn of the event loop (see AckBatcher); setImmediate unless given. */
  afterTurn?: (run: () => void) => void;
  /**
   * How long an authenticated link may stay without `hello`. Past it the link is closed 1008:
   * a socket that answers pings but never says who it is would otherwise hold a slot for ever.
   */
  helloTimeoutMs: number;
}

const validSeq = seqNumber();

export class DevicePeer implements DeviceLink {
  readonly deviceId: string;
  readonly #o: DevicePeerOptions;
  readonly #logger: Logger;
  readonly #peer: PeerSocket;
  readonly #acks: AckBatcher;
  #phase: DevicePhase = 'awaiting_hello';
  #helloTimer: TimerHandle | null = null;
  #speaksBytes = false;

  constructor(options: DevicePeerOptions) {
    this.#o = options;
    this.deviceId = options.deviceId;
    this.#logger = options.logger;
    this.#acks = new AckBatcher({
      intervalMs: options.ackIntervalMs,
      maxBytes: ACK_BYTES,
      clock: options.clock,
      afterTurn: options.afterTurn ?? ((run) => setImmediate(run)),
      send: (seq) => this.#peer.send({ type: 'ack', payload: { seq } }),
    });
    this.#peer = new PeerSocket({
      ...peerSettings(options),
      onText: (text) => this.#onText(text),
      onBinary: (data) => this.#onBinary(data),
      onActivity: () => options.events.deviceSeen(this),
      onClose: (code, reason) => {
        this.#phase = 'closed';
        this.#clearHelloTimer();
        this.#acks.stop();
        options.events.deviceClosed(this, code, reason);
      },
    });
  }

  /** Starts the link's timers: the pings, and the wait for hello. */
  start(): void {
    this.#peer.start();
    if (this.#phase !== 'awaiting_hello' || this.#helloTimer) return;
    this.#helloTimer = this.#o.clock.setTimeout(
      () => this.#onHelloTimeout(),
      this.#o.helloTimeoutMs,
    );
  }

  get speaksBytes(): boolean {
    return this.#speaksBytes;
  }

  sendBytes(frame: Uint8Array): boolean {
    return this.#peer.sendBinary(frame);
  }

  get phase(): DevicePhase {
    return this.#phase;
  }

  #onHelloTimeout(): void {
    this.#helloTimer = null;
    if (this.#phase !== 'awaiting_hello') return;
    this.refuse({
      code: ErrorCode.helloRequired,
      message: `no hello within ${this.#o.helloTimeoutMs} ms`,
    });
    void this.close(CloseCode.policyViolation, 'no hello');
  }

  #clearHelloTimer(): void {
    if (this.#helloTimer) this.#o.clock.clearTimeout(this.#helloTimer);
    this.#helloTimer = null;
  }

  get closed(): Promise<void> {
    return this.#peer.closed;
  }

  stats(): PeerStats {
    return this.#peer.stats('device', this.deviceId);
  }

  get backedUp(): boolean {
    return this.#peer.backedUp;
  }

  pauseReading(): void {
    this.#peer.pauseReading();
  }

  onDrain(listener: () => void): () => void {
    return this.#peer.onDrain(listener);
  }

  resumeReading(): void {
    this.#peer.resumeReading();
  }

  send(message: Message): boolean {
    return this.#peer.send(message);
  }

  refuse(error: FrameError): void {
    this.#logger.warn({ code: error.code, type: error.type }, 'bad frame from device');
    if (error.type === 'error') return; // never answer an error with an error: that can loop
    this.#peer.send(errorMessage(error.code, error.message, error.request_id));
  }

  close(code: number, reason: string): Promise<void> {
    return this.#peer.close(code, reason);
  }

  #onBinary(data: Uint8Array): void {
    const result = decodeByteFrame(data);
    if (this.#phase !== 'ready' || !this.#speaksBytes) {
      if (this.#phase !== 'ready') {
        this.refuse({ code: ErrorCode.helloRequired, message: 'the first frame must be "hello"' });
        return;
      }
      this.refuse(BINARY_REFUSED);
      // Spooled on an earlier link that spoke bytes: refused, but processed (as a bad JSON frame
      // is), so that it never holds back the acknowledgement of what follows.
      if (result.ok && result.frame.seq > 0) this.#processedWithoutHandling(result.frame.seq);
      return;
    }
    if (!result.ok) {
      this.refuse({ code: result.error.code, message: result.error.message });
      return;
    }
    const { frame } = result;
    const seq = frame.seq;
    if (seq > 0 && !this.#o.cursors.accept(this.deviceId, seq)) {
      this.#acks.note(seq); // a resend of something processed: confirm it again
      return;
    }
    try {
      this.#o.events.deviceBytes(this, frame);
    } catch (err) {
      this.#logger.error(
        { code: ErrorCode.internalError, err, stream: frame.stream },
        'device byte frame handler failed',
      );
    }
    if (seq > 0) {
      this.#o.events.deviceProcessed(this, seq);
      this.#acks.note(seq, data.length);
    }
  }

  #processedWithoutHandling(seq: number): void {
    if (this.#o.cursors.accept(this.deviceId, seq)) this.#o.events.deviceProcessed(this, seq);
    this.#acks.note(seq);
  }

  #onText(text: string): void {
    const result = parseFrame(text, toHubValidators);
    if (!result.ok) {
      const { seq } = result.error;
      if (seq !== undefined && this.#phase === 'ready') {
        if (this.#o.cursors.accept(this.deviceId, seq)) {
          this.refuse(result.error);
          this.#o.events.deviceProcessed(this, seq);
        }
        this.#acks.note(seq);
      } else this.refuse(result.error);
      return;
    }
    const { frame } = result;
    if (frame.type !== HELLO && this.#phase !== 'ready') {
      this.refuse(
        failure(
          ErrorCode.helloRequired,
          `the first frame must be "hello", got "${frame.type}"`,
          frame,
        ),
      );
      return;
    }
    const seq = frame.type === HELLO ? undefined : frame.raw.seq;
    if (seq !== undefined) {
      const valid = validSeq(seq, 'seq');
      if (!valid.ok) {
        this.refuse(failure(ErrorCode.invalidPayload, `${frame.type}: ${valid.error}`, frame));
        return;
      }
      if (!this.#o.cursors.accept(this.deviceId, valid.value)) {
        this.#acks.note(valid.value); // a resend of something processed: confirm it again
        return;
      }
    }
    try {
      if (frame.type === HELLO) this.#onHello(frame);
      else this.#o.events.deviceFrame(this, frame);
    } catch (err) {
      this.#logger.error(
        { code: ErrorCode.internalError, err, type: frame.type },
        'device frame handler failed',
      );
      this.refuse(failure(ErrorCode.internalError, `${frame.type}: internal error`, frame));
    }
    if (typeof seq === 'number') {
      this.#o.events.deviceProcessed(this, seq);
      this.#acks.note(seq, text.length);
    }
  }

  /** `hello` makes the peer ready; a repeated one (same device) refreshes what the hub knows. */
  #onHello(frame: ParsedFrame): void {
    // toHubValidators.hello is helloPayload, so the payload has its shape.
    const hello = frame.payload as HelloPayload;
    if (hello.device_id !== this.deviceId) {
      this.refuse(
        failure(
          ErrorCode.deviceMismatch,
          `hello names device "${hello.device_id}" but the credentials are those of "${this.deviceId}"`,
          frame,
        ),
      );
      void this.close(CloseCode.policyViolation, 'device_id does not match the credentials');
      return;
    }
    this.#phase = 'ready';
    this.#clearHelloTimer();
    this.#speaksBytes = hello.capabilities.includes(BYTES_CAPABILITY);
    const lastSeq = this.#o.cursors.open(this.deviceId, hello.store_id);
    const welcome = welcomeMessage(
      this.deviceId,
      lastSeq,
      this.#o.clock,
      frame.request_id,
      this.#speaksBytes,
    );
    this.#peer.send(welcome);
    // After the welcome, so that whatever the broker sends on `ready` reaches an agent that is
    // already online.
    this.#o.events.deviceReady(this, hello, lastSeq);
  }
}

/** The refusal of a device's frame, echoing its type and request_id. */
export function failure(code: ErrorCode, message: string, frame: ParsedFrame): FrameError {
  const error: FrameError = { code, message, type: frame.type };
  if (frame.request_id !== undefined) error.request_id = frame.request_id;
  return error;
}
