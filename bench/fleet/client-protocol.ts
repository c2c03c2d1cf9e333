/**
 * What the fleet run and its stream client (bench/fleet/stream-client.ts, a process of its own)
 * say to each other over the IPC channel of `fork`.
 */
import type { DelayCounts } from './delay-histogram.js';
import type { PeerFailed } from './forked-peer.js';
import type { SampleWindow } from './sample-tally.js';

/** How the client finds its hub and which devices it subscribes to. */
export interface StreamClientSettings {
  /** ws://host:port of its hub. */
  wsUrl: string;
  apiKey: string;
  deviceIds: string[];
  streams: string[];
}

export type ToStreamClient =
  | { kind: 'subscribe'; settings: StreamClientSettings }
  | { kind: 'window'; window: SampleWindow }
  /** Answer once `expected` window samples have arrived, or after `graceMs` at the latest. */
  | { kind: 'collect'; expected: number; graceMs: number };

export interface DeliveryFigures {
  /** Distinct samples of the window that arrived. */
  received: number;
  /** Window samples that arrived more than once (resends). */
  duplicates: number;
  /** Arrival time − sample time of each distinct window sample, counted per ms. */
  delays: DelayCounts;
}

export type FromStreamClient =
  { kind: 'ready' } | { kind: 'figures'; figures: DeliveryFigures } | PeerFailed;
