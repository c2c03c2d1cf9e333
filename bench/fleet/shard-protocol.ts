/**
 * What the fleet run and a fleet shard (bench/fleet/fleet-shard.ts, a process holding a share
 * of the agents) say to each other over the IPC channel of `fork`. Closing the channel tells
 * the shard to stop its agents, clean up and exit.
 */
import type { PeerFailed } from './forked-peer.js';
import type { SampleWindow } from './sample-tally.js';
import type { FleetDevice } from './simulated-fleet.js';

export interface FleetShardSettings {
  /** Every agent's `server.url`: ws://host:port/v1/device, or mqtt://host:port (a broker). */
  deviceUrl: string;
  devices: FleetDevice[];
  streams: string[];
  intervalMs: number;
  /**
   * The shard's scratch folder (its agents' spools and fixture /proc trees), made and removed
   * by the fleet run: a shard killed at its stop's grace leaves nothing behind.
   */
  scratchDir: string;
}

export type ToFleetShard =
  | { kind: 'start'; settings: FleetShardSettings }
  | { kind: 'window'; window: SampleWindow }
  /** Answer once every stream has sent a sample at or after `endMs`, or after `graceMs`. */
  | { kind: 'collect'; endMs: number; graceMs: number };

export interface ShardFigures {
  /** Distinct samples of the window the shard's agents wrote to their links. */
  sent: number;
  /** The same, per device: the stream clients of several hubs each count their share. */
  sentByDevice: [deviceId: string, samples: number][];
  linkDrops: number;
  /** The shard's event-loop delay over the window: the simulator's own load. */
  loopDelayP99Ms: number;
}

export type FromFleetShard =
  { kind: 'online' } | { kind: 'sent'; figures: ShardFigures } | PeerFailed;
