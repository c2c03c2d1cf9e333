/**
 * The envelope every frame shares, as in the platform docs: `{ type, payload, request_id? }`.
 *
 * Messages the agent sends also carry `channel` (what kind of traffic this is, so the hub and
 * webhooks can select it) and `ts` (device clock, ISO-8601 UTC). `seq` is reserved for
 * acknowledged delivery: when present it numbers the agent's messages one by one.
 */
export interface Message<P = Record<string, unknown>> {
  type: string;
  payload: P;
  request_id?: string;
}

export interface AgentMessage<P = Record<string, unknown>> extends Message<P> {
  /** Absent only on an app's message sent without a channel. */
  channel?: string;
  ts: string;
  seq?: number;
}

/** The agent's own channels; apps may use any other string. */
export const Channel = {
  status: 'status',
  telemetry: 'telemetry',
  commands: 'commands',
  errors: 'errors',
} as const;

/** Version of the device protocol spoken by this agent and hub (in `hello` and `welcome`). */
export const PROTOCOL_VERSION = 1;

/** Largest frame either side accepts; bigger frames close the connection with 1009. */
export const MAX_FRAME_BYTES = 1 << 20;

export function encode(message: Message): string {
  return JSON.stringify(message);
}

export function errorMessage(code: string, message: string, requestId?: string): Message {
  const frame: Message = { type: 'error', payload: { code, message } };
  if (requestId !== undefined) frame.request_id = requestId;
  return frame;
}
