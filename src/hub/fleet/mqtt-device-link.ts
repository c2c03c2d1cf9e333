import { errorMessage, type Message } from '../../protocol/message.js';
import type { FrameError } from '../../protocol/parse.js';
import type { DeviceLink } from '../links.js';

/**
 * What a device link over the broker needs from the fleet: one connection carries every
 * device, so sending, back-pressure and who answers are the fleet's.
 */
export interface FleetPort {
  /** Publishes a frame on the device's `down` topic; false while the hub is not connected. */
  sendDown(deviceId: string, message: Message): boolean;
  /** The hub's broker connection has more waiting to be written than it should. */
  readonly backedUp: boolean;
  /** Whether this hub owns the device (only the owner answers a bad frame). */
  owns(deviceId: string): boolean;
  /** The broker asked to close the link: it ends in this hub only. */
  endLink(link: MqttDeviceLink): void;
}

/**
 * One device's link in this hub while the device is online on the broker: the Broker's view of
 * it, like a DevicePeer's for a WebSocket. A hub cannot close a device's broker connection, nor
 * pause one device's traffic on a connection that carries every device's: `close()` only ends
 * the link here, and the pause is not available (a client that does not read is closed with
 * 4008 when its queue fills, as on any hub).
 */
export class MqttDeviceLink implements DeviceLink {
  readonly deviceId: string;
  readonly #port: FleetPort;
  #open = true;

  constructor(deviceId: string, port: FleetPort) {
    this.deviceId = deviceId;
    this.#port = port;
  }

  get open(): boolean {
    return this.#open;
  }

  get backedUp(): boolean {
    return this.#port.backedUp;
  }

  send(message: Message): boolean {
    return this.#open && this.#port.sendDown(this.deviceId, message);
  }

  /** Every hub sees a device's frames; only its owner answers one that is bad. */
  refuse(error: FrameError): void {
    if (error.type === 'error' || !this.#port.owns(this.deviceId)) return;
    this.send(errorMessage(error.code, error.message, error.request_id));
  }

  close(): Promise<void> {
    if (this.#open) this.#port.endLink(this);
    return Promise.resolve();
  }

  /** The fleet ended the link (the device went offline, or the hub lost the broker). */
  end(): void {
    this.#open = false;
  }

  pauseReading(): void {}

  resumeReading(): void {}
}
