import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../time/clock.js';
import type { ClientLink, DeviceLink } from './links.js';
import { CloseCode } from '../protocol/close-codes.js';
import { LogCode } from '../log/log-codes.js';

/**
 * Push-back from stream clients to devices: a device's command output is never dropped, so
 * while a client it is relayed to is backed up, the hub stops reading that device instead of
 * queueing its output. The device's TCP window fills, the agent's socket backs up, and the
 * agent pauses the command's pipes; nothing piles up in the hub.
 *
 *     relayed to a backed-up client ─hold─▶ device paused (while it has any holder)
 *        client drains or leaves ─release─▶ device resumed (once no holder is left)
 *        held longer than maxHoldMs ─▶ client closed 4008 (slow consumer) ─▶ released
 *
 * A paused device sends nothing to anyone (telemetry, other commands' output): the bound on
 * the hold keeps one client that never reads from freezing a device for ever.
 */
export interface PushBackOptions {
  clock: Clock;
  logger: Logger;
  /** How long one client may keep devices paused before it is closed as a slow consumer. */
  maxHoldMs: number;
}

interface Hold {
  readonly devices: Set<DeviceLink>;
  readonly stopListening: () => void;
  readonly timer: TimerHandle;
}

export class PushBack {
  readonly #o: PushBackOptions;
  readonly #holds = new Map<ClientLink, Hold>();
  readonly #holders = new Map<DeviceLink, Set<ClientLink>>();

  constructor(options: PushBackOptions) {
    this.#o = options;
  }

  /** `device`'s output was just relayed to `client`: pause the device while the client is backed up. */
  relayed(device: DeviceLink, client: ClientLink): void {
    if (!client.backedUp) return;
    let hold = this.#holds.get(client);
    if (!hold) {
      const timer = this.#o.clock.setTimeout(() => this.#expire(client), this.#o.maxHoldMs);
      timer.unref?.();
      hold = {
        devices: new Set(),
        stopListening: client.onDrain(() => this.release(client)),
        timer,
      };
      this.#holds.set(client, hold);
    }
    hold.devices.add(device);
    const holders = this.#holders.get(device) ?? new Set<ClientLink>();
    this.#holders.set(device, holders);
    holders.add(client);
    if (holders.size > 1) return;
    device.pauseReading();
    this.#o.logger.debug(
      { deviceId: device.deviceId, clientId: client.id },
      'device reading paused: a client waiting on its output is backed up',
    );
  }

  /** The client drained or left: the devices it alone held are read again. */
  release(client: ClientLink): void {
    const hold = this.#holds.get(client);
    if (!hold) return;
    this.#holds.delete(client);
    hold.stopListening();
    this.#o.clock.clearTimeout(hold.timer);
    for (const device of hold.devices) {
      const holders = this.#holders.get(device);
      holders?.delete(client);
      if (holders?.size === 0) {
        this.#holders.delete(device);
        device.resumeReading();
        this.#o.logger.debug({ deviceId: device.deviceId }, 'device reading resumed');
      }
    }
  }

  /** The device's link closed: nothing to resume on it. */
  forgetDevice(device: DeviceLink): void {
    for (const client of this.#holders.get(device) ?? [])
      this.#holds.get(client)?.devices.delete(device);
    this.#holders.delete(device);
  }

  /** Whether some client holds the device paused (for tests and diagnostics). */
  isHeld(device: DeviceLink): boolean {
    return this.#holders.has(device);
  }

  #expire(client: ClientLink): void {
    this.#o.logger.warn(
      { code: LogCode.slowConsumer, clientId: client.id, maxHoldMs: this.#o.maxHoldMs },
      'stream client held a device back too long: closing it',
    );
    this.release(client);
    void client.close(CloseCode.slowConsumer, 'slow consumer');
  }
}
