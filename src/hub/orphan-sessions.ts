import { MAX_OPEN_REQUESTS } from '../protocol/to-hub.js';

/**
 * Shell sessions the hub has stopped routing while their device was away (their client left,
 * or the request grace ran out), by device. A `session_close` then had no link to go on, and a
 * session running `top` is never idle: without it, the terminal would run on the device for
 * good, with no one to read it. So the close waits here and goes out when the device is back
 * (if its `hello` still lists the session). Commands are not kept: a command outlives a lost
 * link by design, and its own timeout ends it.
 */
export class OrphanSessions {
  readonly #byDevice = new Map<string, string[]>();

  /** Remembers the hub request_id of a session to close on `deviceId`'s next link. */
  add(deviceId: string, requestId: string): void {
    const ids = this.#byDevice.get(deviceId) ?? [];
    ids.push(requestId);
    // An agent lists at most MAX_OPEN_REQUESTS; older ones it can no longer hold.
    if (ids.length > MAX_OPEN_REQUESTS) ids.shift();
    this.#byDevice.set(deviceId, ids);
  }

  /** The sessions to close on this device now (then forgotten). */
  take(deviceId: string): string[] {
    const ids = this.#byDevice.get(deviceId) ?? [];
    this.#byDevice.delete(deviceId);
    return ids;
  }
}
