import { PROTOCOL_VERSION, type Message } from '../protocol/message.js';
import { isoNow, type Clock } from '../time/clock.js';

/**
 * The hub's answer to `hello`: the agent is online, and `last_seq` is the last seq the hub has
 * processed from its store (the spool sends what follows). Echoes the hello's request_id.
 * `bytes`: the agent listed the `bytes` capability and binary frames may be used on the link.
 */
export function welcomeMessage(
  deviceId: string,
  lastSeq: number,
  clock: Clock,
  requestId: string | undefined,
  bytes = false,
): Message {
  const welcome: Message = {
    type: 'welcome',
    payload: {
      device_id: deviceId,
      server_time: isoNow(clock),
      protocol: PROTOCOL_VERSION,
      last_seq: lastSeq,
      // Only when the agent asked: an older agent's validator need not know the field.
      ...(bytes ? { bytes: true } : {}),
    },
  };
  if (requestId !== undefined) welcome.request_id = requestId;
  return welcome;
}
