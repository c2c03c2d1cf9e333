import { pino } from 'pino';
import { Broker, type BrokerOptions } from '../../src/hub/broker.js';
import type { ClientLink, DeviceLink } from '../../src/hub/links.js';
import type { Message } from '../../src/protocol/message.js';
import type { FrameError, ParsedFrame } from '../../src/protocol/parse.js';
import { FakeClock } from './fake-clock.js';

/** Links for driving the hub's Broker without sockets: they record what the broker sends. */
export class FakeLink {
  readonly sent: Message[] = [];
  readonly refused: FrameError[] = [];
  readonly closes: [number, string][] = [];
  /** False: `send` drops the frame and says so, as a closed link does. */
  open = true;
  /** True: the peer does not read (its send queue is at its high-water mark). */
  backedUp = false;

  send(message: Message): boolean {
    if (this.open) this.sent.push(message);
    return this.open;
  }

  refuse(error: FrameError): void {
    this.refused.push(error);
  }

  close(code: number, reason: string): Promise<void> {
    this.closes.push([code, reason]);
    return Promise.resolve();
  }
}

export class FakeDevice extends FakeLink implements DeviceLink {
  readingPaused = false;

  constructor(readonly deviceId = 'dev') {
    super();
  }

  pauseReading(): void {
    this.readingPaused = true;
  }

  resumeReading(): void {
    this.readingPaused = false;
  }
}

export class FakeClient extends FakeLink implements ClientLink {
  /** Frames `offer` dropped while backed up. */
  dropped = 0;
  readonly #drainListeners = new Set<() => void>();

  constructor(readonly id: string) {
    super();
  }

  offer(message: Message): boolean {
    if (!this.backedUp) return this.send(message);
    this.dropped++;
    return false;
  }

  onDrain(listener: () => void): () => void {
    this.#drainListeners.add(listener);
    return () => this.#drainListeners.delete(listener);
  }

  /** The client reads again: no longer backed up, and the drain listeners hear it. */
  drain(): void {
    this.backedUp = false;
    for (const listener of [...this.#drainListeners]) listener();
  }
}

/** A frame as the peers hand it over, validated; `raw` adds envelope fields (seq, ts). */
export function frame(
  type: string,
  payload: Record<string, unknown>,
  requestId?: string,
  raw: Record<string, unknown> = {},
): ParsedFrame {
  const f: ParsedFrame = { type, payload, raw: { type, payload, ...raw } };
  if (requestId !== undefined) f.request_id = requestId;
  return f;
}

/** A broker for device `dev`, silent, on a fake clock, with ids `req_1`, `req_2`, … */
export function testBroker(options: Partial<BrokerOptions> = {}): Broker {
  let n = 0;
  return new Broker({
    knownDeviceIds: ['dev'],
    clock: new FakeClock(),
    logger: pino({ level: 'silent' }),
    ids: (prefix) => `${prefix}_${++n}`,
    ...options,
  });
}
