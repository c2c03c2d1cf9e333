import { PROTOCOL_VERSION, encode } from '../protocol/message.js';
import type { ConnectionStatus } from './connection-status.js';
import type { OutboxSink } from './outbox.js';

/**
 * The agent's one link to the cloud, as the Agent sees it: dial, hand frames in, say when it is
 * usable, close. The WebSocket link is src/agent/connection.ts; the composition root picks and
 * builds the link, the Agent only drives it.
 *
 *     start(events) ─▶ dial ─▶ hello ─▶ (hub: welcome) ─▶ markWelcomed ─▶ online ─▶ … ─▶ stop()
 *                        ▲                  └─ refuseWelcome ─▶ back-off ─┘
 */
export interface LinkEvents {
  /** The hello to send on every connect (read fresh, so capabilities can change). */
  hello(): Record<string, unknown>;
  /** Every JSON text frame from the hub, for the router (null: a frame the link could not read). */
  onFrame(text: string | null): void;
  /** Every binary frame from the hub (raw bytes; only a link that `carriesBytes` has them). */
  onBytes(data: Uint8Array): void;
  onStatus(status: ConnectionStatus): void;
  /** The link is usable (welcome received): a sink for the outbox. */
  onOnline(sink: OutboxSink): void;
  onOffline(): void;
}

export interface Link {
  readonly status: ConnectionStatus;
  /**
   * Binary frames can travel on this link (the WebSocket link): the agent then lists the `bytes`
   * capability in its hello. The MQTT link keeps everything JSON.
   */
  readonly carriesBytes: boolean;
  /** Starts dialling; `events` receive everything the link learns from then on. */
  start(events: LinkEvents): void;
  /** The hub's welcome was accepted: the link goes online. */
  markWelcomed(): void;
  /** Says hello again on the open link (the hub answers with a fresh welcome). */
  sendHello(): void;
  /** The welcome cannot be used: the link closes without going online and dials again later. */
  refuseWelcome(code: string, message: string): void;
  /** Closes the link for good; resolves once it is closed. */
  stop(): Promise<void>;
}

/** The hello payload every link sends: the Agent's fields and the protocol version. */
export function helloPayload(events: LinkEvents | null): Record<string, unknown> {
  return { ...events?.hello(), protocol: PROTOCOL_VERSION };
}

export function helloFrame(payload: Record<string, unknown>): string {
  return encode({ type: 'hello', payload });
}
