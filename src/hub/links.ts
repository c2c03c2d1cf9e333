import type { ByteFrame } from '../protocol/byte-frame.js';
import type { Message } from '../protocol/message.js';
import type { FrameError, ParsedFrame } from '../protocol/parse.js';
import type { HelloPayload } from '../protocol/to-hub.js';

/**
 * What the broker sees of a connection, and what a connection tells the broker. The peers
 * (DevicePeer, ClientPeer: one socket each) implement the links; the broker implements the
 * events. Either side can be replaced by a fake in unit tests.
 */
export interface Link {
  /** Sends a frame; false when the link is no longer open (the frame is dropped). */
  send(message: Message): boolean;
  /** Answers a bad or failed request with an `error` frame (never an `error` with an error). */
  refuse(error: FrameError): void;
  /** Its send queue is at its high-water mark: the peer is not reading (fast enough). */
  readonly backedUp: boolean;
  /** Closes the link gracefully (terminated if the close does not complete in time). */
  close(code: number, reason: string): Promise<void>;
}

export interface DeviceLink extends Link {
  readonly deviceId: string;
  /**
   * The link carries binary frames (the agent listed `bytes` in its hello and the welcome said
   * `bytes: true`); false on a link that speaks JSON only (an older agent, the MQTT transport).
   */
  readonly speaksBytes?: boolean;
  /** Sends one encoded binary frame (only when `speaksBytes`); false when the link is not open. */
  sendBytes?(frame: Uint8Array): boolean;
  /** Runs `listener` each time the link goes from backed up to able to take more. */
  onDrain?(listener: () => void): () => void;
  /** Stops reading the device's frames (push-back: TCP fills, the agent pauses its output). */
  pauseReading(): void;
  resumeReading(): void;
}

export interface ClientLink extends Link {
  /** An id for logs and accessors; not sent to anyone. */
  readonly id: string;
  /** The client's address, for logs (undefined for the hub's own in-process clients). */
  readonly remote?: string;
  /**
   * Sends a frame the client can do without (telemetry, app events): while the client is
   * backed up it is dropped, counted, and the client told how many once it drains.
   */
  offer(message: Message): boolean;
  /**
   * Sends one encoded binary frame to a client that asked for bytes (a `stream` number in its
   * request). Absent on links that never ask (the Command API's).
   */
  sendBytes?(frame: Uint8Array): boolean;
  /** Stops reading the client's frames (its stdin waits in TCP while a device is backed up). */
  pauseReading?(): void;
  resumeReading?(): void;
  /** Runs `listener` each time the client goes from backed up to able to take more. */
  onDrain(listener: () => void): () => void;
}

export interface DeviceEvents {
  /** Authenticated and upgraded, before `hello`. */
  deviceAttached(link: DeviceLink): void;
  /**
   * `hello` accepted and `welcome` sent: the link is ready for anything else. `processedSeq` is
   * the last seq the hub has processed from the device's store (the welcome's `last_seq`).
   */
  deviceReady(link: DeviceLink, hello: HelloPayload, processedSeq: number): void;
  /** Any traffic (frame, ping, pong): for `last_seen`. */
  deviceSeen(link: DeviceLink): void;
  /** A valid frame after `hello` (other than another `hello`). */
  deviceFrame(link: DeviceLink, frame: ParsedFrame): void;
  /** The frame with this `seq` has been processed (handled, or refused as bad). */
  deviceProcessed(link: DeviceLink, seq: number): void;
  /** A valid binary frame after `hello` (on a link that negotiated bytes), already deduplicated. */
  deviceBytes(link: DeviceLink, frame: ByteFrame): void;
  deviceClosed(link: DeviceLink, code: number, reason: string): void;
}

export interface ClientEvents {
  clientAttached(link: ClientLink): void;
  clientFrame(link: ClientLink, frame: ParsedFrame): void;
  /** A valid binary frame from the client (stdin for one of its streams). */
  clientBytes(link: ClientLink, frame: ByteFrame): void;
  clientClosed(link: ClientLink, code: number, reason: string): void;
}
