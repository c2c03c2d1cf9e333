/**
 * Sends a sample only when it moved by more than `threshold` from the last one sent, but at
 * least every `maxSilentIntervals` samples, so a flat line still shows the device is alive
 * and a cellular link does not carry the same number every ten seconds.
 */
export interface DeadbandSettings {
  threshold: number;
  maxSilentIntervals: number;
}

export class Deadband {
  readonly #settings: DeadbandSettings;
  #lastSent: number | undefined;
  #samplesSinceSent = 0;

  constructor(settings: DeadbandSettings) {
    this.#settings = settings;
  }

  /** True when `value` should be sent; remembers it as the last one sent. */
  admit(value: number): boolean {
    this.#samplesSinceSent++;
    const send =
      this.#lastSent === undefined ||
      Math.abs(value - this.#lastSent) > this.#settings.threshold ||
      this.#samplesSinceSent >= this.#settings.maxSilentIntervals;
    if (send) {
      this.#lastSent = value;
      this.#samplesSinceSent = 0;
    }
    return send;
  }

  /** Forgets the last value, so the next sample is sent whatever it is. */
  reset(): void {
    this.#lastSent = undefined;
    this.#samplesSinceSent = 0;
  }
}
