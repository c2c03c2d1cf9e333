import { connectAsync, type MqttClient } from 'mqtt';
import { deviceTopic } from '../../src/protocol/mqtt-topics.js';
import type { Owner } from './owner.js';
import { HELLO, WAIT_MS, type Frame } from './ws.js';

/**
 * A device played by the test over a real MQTT broker, as docs/protocol.md has the agent do it:
 * retained presence (and its will), `hello` and frames on `up`, and every frame the hubs send on
 * `down` kept in an inbox until the test asks for it. Ended when `owner` (the test) ends.
 */
export interface ScriptedDevice {
  deviceId: string;
  /** The `since` of its last presence. */
  readonly since: string;
  client: MqttClient;
  /** Frames the hubs sent on `down`, not taken yet. */
  readonly unread: readonly Frame[];
  /** The first frame on `down` (received or to come) that matches; it is taken out. */
  next(predicate?: (frame: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  nextOfType(type: string, timeoutMs?: number): Promise<Frame>;
  /** Publishes a frame on `up` (QoS 1). */
  send(frame: Record<string, unknown>): Promise<void>;
  /** Publishes raw bytes on `up`. */
  sendRaw(payload: string | Buffer): Promise<void>;
  /** Retained presence `online: true` with the hello, then `hello` on `up`. */
  comeOnline(extra?: Record<string, unknown>): Promise<void>;
  /** Retained presence `online: false`, then disconnects. Idempotent. */
  goOffline(): Promise<void>;
}

interface Waiter {
  predicate: (frame: Frame) => boolean;
  resolve: (frame: Frame) => void;
  timer: ReturnType<typeof setTimeout>;
}

export async function connectScriptedDevice(
  owner: Owner,
  brokerUrl: string,
  deviceId: string,
  helloExtra: Record<string, unknown> = {},
): Promise<ScriptedDevice> {
  const hello = { device_id: deviceId, ...HELLO, store_id: 'store-0001', ...helloExtra };
  let since = new Date().toISOString();
  const presence = (online: boolean): string => {
    since = new Date().toISOString();
    return JSON.stringify({ online, since, hello });
  };
  const client = await connectAsync(brokerUrl, {
    protocolVersion: 5,
    clientId: deviceId,
    clean: true,
    reconnectPeriod: 0,
    will: {
      topic: deviceTopic(deviceId, 'presence'),
      payload: Buffer.from(presence(false)),
      qos: 1,
      retain: true,
    },
  });
  let ended = false;
  const end = async (): Promise<void> => {
    if (ended) return;
    ended = true;
    await client.endAsync();
  };
  owner.after(() => end());
  const frames: Frame[] = [];
  const waiters = new Set<Waiter>();
  client.on('message', (_topic, payload) => {
    const frame = JSON.parse(payload.toString('utf8')) as Frame;
    for (const waiter of waiters) {
      if (!waiter.predicate(frame)) continue;
      clearTimeout(waiter.timer);
      waiters.delete(waiter);
      waiter.resolve(frame);
      return;
    }
    frames.push(frame);
  });
  await client.subscribeAsync(deviceTopic(deviceId, 'down'), { qos: 1 });
  const next = (predicate: (frame: Frame) => boolean = () => true, timeoutMs = WAIT_MS) => {
    const index = frames.findIndex(predicate);
    if (index >= 0) return Promise.resolve(frames.splice(index, 1)[0] as Frame);
    return new Promise<Frame>((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        timer: setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${deviceId}: no matching frame on down within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      waiters.add(waiter);
    });
  };
  const publish = async (topic: string, payload: string | Buffer, retain = false) => {
    await client.publishAsync(topic, payload, { qos: 1, retain });
  };
  return {
    deviceId,
    client,
    get since() {
      return since;
    },
    get unread() {
      return frames;
    },
    next,
    nextOfType: (type, timeoutMs) => next((f) => f.type === type, timeoutMs),
    send: (frame) => publish(deviceTopic(deviceId, 'up'), JSON.stringify(frame)),
    sendRaw: (payload) => publish(deviceTopic(deviceId, 'up'), payload),
    async comeOnline(extra = {}) {
      Object.assign(hello, extra);
      await publish(deviceTopic(deviceId, 'presence'), presence(true), true);
      await publish(deviceTopic(deviceId, 'up'), JSON.stringify({ type: 'hello', payload: hello }));
    },
    async goOffline() {
      if (ended) return;
      await publish(deviceTopic(deviceId, 'presence'), presence(false), true);
      await end();
    },
  };
}
