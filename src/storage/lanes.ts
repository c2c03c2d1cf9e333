import { Channel } from '../protocol/message.js';

/**
 * Every spooled message belongs to one lane, chosen by its channel. Each lane has its own
 * segment files, so a full spool can give up the oldest telemetry without touching command
 * output or user messages. The order here is the eviction order: telemetry goes first, the
 * agent's own status and error reports (drop reports among them) last.
 */
export const LANES = ['telemetry', 'user', 'command', 'status'] as const;

export type Lane = (typeof LANES)[number];

/** An app's message may have no channel of its own: it is user traffic all the same. */
export function laneOf(channel: string | undefined): Lane {
  switch (channel) {
    case Channel.telemetry:
      return 'telemetry';
    case Channel.commands:
      return 'command';
    case Channel.status:
    case Channel.errors:
      return 'status';
    default:
      return 'user'; // an app's own channel
  }
}

export function laneCode(lane: Lane): number {
  return LANES.indexOf(lane);
}

export function laneFromCode(code: number): Lane | undefined {
  return LANES[code];
}

/**
 * The channel every message of a lane has unless it says otherwise: a record of that channel
 * need not store it (the status lane also carries `errors`, which is then stored).
 */
export function defaultChannel(lane: Lane): string | undefined {
  switch (lane) {
    case 'telemetry':
      return Channel.telemetry;
    case 'command':
      return Channel.commands;
    case 'status':
      return Channel.status;
    case 'user':
      return undefined;
  }
}
