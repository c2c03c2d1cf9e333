/**
 * QoS 1 publishes in flight to an MQTT 5 broker, at most its Receive Maximum (from the CONNACK):
 * a client must not exceed it (mosquitto lets it pass, other brokers disconnect the client).
 * Publishes beyond it wait here in order and go out as PUBACKs free their places; their bytes
 * are `heldBytes`, so the outbox's back-pressure counts them. MQTT.js itself does not keep the
 * broker's limit.
 */
export interface WindowedPublish {
  topic: string;
  payload: string;
  retain: boolean;
  /** The broker's PUBACK (an error for a refusal). */
  acked(err?: Error): void;
  /** True when the publish is no longer wanted (its sink was replaced): skipped, never sent. */
  stale?(): boolean;
}

/** Sends one publish and calls `acked` at its PUBACK. */
export type SendPublish = (publish: WindowedPublish, acked: (err?: Error) => void) => void;

export class PublishWindow {
  readonly #send: SendPublish;
  readonly #limit: number;
  #inFlight = 0;
  #waiting: Array<{ publish: WindowedPublish; bytes: number }> = [];
  #heldBytes = 0;

  constructor(send: SendPublish, limit: number) {
    this.#send = send;
    this.#limit = Math.max(1, limit);
  }

  /** Bytes of publishes waiting for a place (not yet handed to the client). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  submit(publish: WindowedPublish): void {
    if (this.#inFlight < this.#limit && this.#waiting.length === 0) {
      this.#start(publish);
      return;
    }
    const bytes = Buffer.byteLength(publish.payload);
    this.#waiting.push({ publish, bytes });
    this.#heldBytes += bytes;
  }

  #start(publish: WindowedPublish): void {
    this.#inFlight++;
    this.#send(publish, (err) => {
      this.#inFlight--;
      // Waiting publishes go first: what `acked` makes the outbox send must queue behind them.
      this.#startWaiting();
      publish.acked(err);
    });
  }

  #startWaiting(): void {
    while (this.#inFlight < this.#limit && this.#waiting.length > 0) {
      const { publish, bytes } = this.#waiting.shift() as {
        publish: WindowedPublish;
        bytes: number;
      };
      this.#heldBytes -= bytes;
      if (!publish.stale?.()) this.#start(publish);
    }
  }
}
