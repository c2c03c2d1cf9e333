import { connect, type MqttClient } from 'mqtt';
import { deviceTopic, everyDevice, parseTopic } from '../../src/protocol/mqtt-topics.js';
import type { DevicePresence } from '../../src/protocol/mqtt-topics.js';
import type { Owner } from './owner.js';
import { waitFor } from './ws.js';

/**
 * A hub played by a test over a real broker: a plain MQTT 5 client that reads every device's
 * `up` and `presence` and publishes on `down` what the test says. With `autoWelcome` it answers
 * every hello with a welcome carrying the highest seq it has seen in a row (a cursor), and with
 * `autoAck` it acknowledges each numbered frame: enough of a hub to drive the agent's link.
 */
export interface UpFrame {
  deviceId: string;
  type: string;
  seq?: number;
  request_id?: string;
  payload: Record<string, unknown>;
}

export interface ScriptedHubOptions {
  autoWelcome?: boolean;
  autoAck?: boolean;
}

const EVENT_WAIT_MS = 20_000;

export class ScriptedMqttHub {
  readonly frames: UpFrame[] = [];
  /** The last presence seen per device (null: cleared). */
  readonly presence = new Map<string, DevicePresence | null>();
  readonly #client: MqttClient;
  readonly #options: ScriptedHubOptions;
  /** Per device: the highest seq received with every seq below it, as a hub's cursor. */
  readonly #cursor = new Map<string, number>();

  private constructor(client: MqttClient, options: ScriptedHubOptions) {
    this.#client = client;
    this.#options = options;
  }

  static async start(
    owner: Owner,
    brokerUrl: string,
    options: ScriptedHubOptions = {},
  ): Promise<ScriptedMqttHub> {
    const client = connect(brokerUrl, {
      protocolVersion: 5,
      clientId: `scripted-hub-${Math.random().toString(36).slice(2, 10)}`,
      clean: true,
      reconnectPeriod: 100, // rides out a broker restart; subscriptions are made again
    });
    owner.after(() => client.endAsync(true));
    client.on('error', () => {}); // refused while the broker restarts: it retries
    const hub = new ScriptedMqttHub(client, options);
    client.on('message', (topic, payload) => hub.#onMessage(topic, payload));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    await client.subscribeAsync([everyDevice('up'), everyDevice('presence')], { qos: 1 });
    return hub;
  }

  /** Publishes `frame` on the device's `down` topic (QoS 1); text is sent as it is. */
  send(deviceId: string, frame: Record<string, unknown> | string | Buffer): Promise<unknown> {
    const payload =
      typeof frame === 'object' && !Buffer.isBuffer(frame) ? JSON.stringify(frame) : frame;
    return this.#client.publishAsync(deviceTopic(deviceId, 'down'), payload, { qos: 1 });
  }

  welcome(deviceId: string, lastSeq: number): Promise<unknown> {
    return this.send(deviceId, {
      type: 'welcome',
      payload: { device_id: deviceId, last_seq: lastSeq },
    });
  }

  cursor(deviceId: string): number {
    return this.#cursor.get(deviceId) ?? 0;
  }

  /** The first frame from `from` on that matches; waits for it. */
  async next(
    predicate: (frame: UpFrame) => boolean,
    from = 0,
    timeoutMs = EVENT_WAIT_MS,
  ): Promise<UpFrame> {
    const find = (): UpFrame | undefined => this.frames.slice(from).find(predicate);
    await waitFor(() => find() !== undefined, timeoutMs);
    return find() as UpFrame;
  }

  async presenceOf(
    deviceId: string,
    predicate: (presence: DevicePresence) => boolean,
    timeoutMs = EVENT_WAIT_MS,
  ): Promise<DevicePresence> {
    const matches = (): boolean => {
      const presence = this.presence.get(deviceId);
      return presence !== undefined && presence !== null && predicate(presence);
    };
    await waitFor(matches, timeoutMs);
    return this.presence.get(deviceId) as DevicePresence;
  }

  #onMessage(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (parsed?.kind === 'presence') {
      this.presence.set(
        parsed.deviceId,
        payload.length === 0 ? null : (JSON.parse(payload.toString('utf8')) as DevicePresence),
      );
      return;
    }
    if (parsed?.kind !== 'up') return;
    const frame = JSON.parse(payload.toString('utf8')) as Omit<UpFrame, 'deviceId'>;
    const { deviceId } = parsed;
    this.frames.push({ ...frame, deviceId });
    if (typeof frame.seq === 'number' && frame.seq === this.cursor(deviceId) + 1) {
      this.#cursor.set(deviceId, frame.seq);
      if (this.#options.autoAck)
        void this.send(deviceId, { type: 'ack', payload: { seq: frame.seq } });
    }
    if (frame.type === 'hello' && this.#options.autoWelcome)
      void this.welcome(deviceId, this.cursor(deviceId));
  }
}
