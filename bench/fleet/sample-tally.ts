/**
 * Distinct telemetry samples per device and stream, counted by sample time: the fleet run keeps
 * one where the agents write frames to their sockets and the stream client keeps one where
 * frames arrive, and "lost" is the difference over the same window.
 *
 * A stream's samples are taken on a grid one interval apart, so their times only ever rise on
 * one link; a frame whose time is not past the last one seen for its stream is a resend after a
 * reconnect (at-least-once delivery), counted as a duplicate and never twice as a sample.
 */
export interface SampleWindow {
  /** Sample times from here (inclusive)… */
  startMs: number;
  /** …to here (exclusive). */
  endMs: number;
}

export class SampleTally {
  readonly #latestMs = new Map<string, number>();
  #window: SampleWindow | null = null;
  #inWindow = 0;
  readonly #inWindowByDevice = new Map<string, number>();
  #duplicates = 0;

  /**
   * Counts from now on only samples taken inside `window`. It must be set before its start:
   * a sample of the window recorded earlier would go uncounted, so that throws.
   */
  setWindow(window: SampleWindow): void {
    if (this.streamsPast(window.startMs) > 0)
      throw new RangeError('the window was set after samples inside it were recorded');
    this.#window = window;
    this.#inWindow = 0;
    this.#inWindowByDevice.clear();
    this.#duplicates = 0;
  }

  /** Records one frame; true when it is a new sample inside the window. */
  record(deviceId: string, stream: string, tsMs: number): boolean {
    const key = `${deviceId}\u0000${stream}`;
    const latest = this.#latestMs.get(key);
    if (latest !== undefined && tsMs <= latest) {
      if (this.#contains(tsMs)) this.#duplicates++;
      return false;
    }
    this.#latestMs.set(key, tsMs);
    if (!this.#contains(tsMs)) return false;
    this.#inWindow++;
    this.#inWindowByDevice.set(deviceId, (this.#inWindowByDevice.get(deviceId) ?? 0) + 1);
    return true;
  }

  /** New samples seen inside the window. */
  get inWindow(): number {
    return this.#inWindow;
  }

  /** The same, per device (devices with none left out). */
  inWindowByDevice(): [deviceId: string, samples: number][] {
    return [...this.#inWindowByDevice];
  }

  /** Frames inside the window seen again (resends). */
  get duplicates(): number {
    return this.#duplicates;
  }

  /** How many device streams have a sample at or after `ms` (all of them once `ms` is past). */
  streamsPast(ms: number): number {
    let past = 0;
    for (const latest of this.#latestMs.values()) if (latest >= ms) past++;
    return past;
  }

  #contains(tsMs: number): boolean {
    return this.#window !== null && tsMs >= this.#window.startMs && tsMs < this.#window.endMs;
  }
}
