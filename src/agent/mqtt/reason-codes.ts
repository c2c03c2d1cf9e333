/**
 * MQTT 5 reason codes the agent's client sends or names (spec §2.4), and the errors it raises.
 * Every error has a stable string `code` (README, "Log codes" lists what the link logs for each);
 * a refusal by the broker keeps its numeric reason as `reasonCode`.
 */
export const ReasonCode = {
  success: 0x00,
  unspecifiedError: 0x80,
  malformedPacket: 0x81,
  protocolError: 0x82,
  keepAliveTimeout: 0x8d,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  qosNotSupported: 0x9b,
} as const;

/** Names of CONNACK, PUBACK, SUBACK and DISCONNECT reasons (§3.2.2.2, §3.4.2.1, §3.9.3, §3.14.2.1). */
const NAMES: Readonly<Record<number, string>> = {
  0x00: 'success',
  0x04: 'disconnect with will message',
  0x10: 'no matching subscribers',
  0x80: 'unspecified error',
  0x81: 'malformed packet',
  0x82: 'protocol error',
  0x83: 'implementation specific error',
  0x84: 'unsupported protocol version',
  0x85: 'client identifier not valid',
  0x86: 'bad user name or password',
  0x87: 'not authorized',
  0x88: 'server unavailable',
  0x89: 'server busy',
  0x8a: 'banned',
  0x8b: 'server shutting down',
  0x8c: 'bad authentication method',
  0x8d: 'keep alive timeout',
  0x8e: 'session taken over',
  0x8f: 'topic filter invalid',
  0x90: 'topic name invalid',
  0x91: 'packet identifier in use',
  0x93: 'receive maximum exceeded',
  0x94: 'topic alias invalid',
  0x95: 'packet too large',
  0x96: 'message rate too high',
  0x97: 'quota exceeded',
  0x98: 'administrative action',
  0x99: 'payload format invalid',
  0x9a: 'retain not supported',
  0x9b: 'QoS not supported',
  0x9c: 'use another server',
  0x9d: 'server moved',
  0x9e: 'shared subscriptions not supported',
  0x9f: 'connection rate exceeded',
  0xa0: 'maximum connect time',
  0xa1: 'subscription identifiers not supported',
  0xa2: 'wildcard subscriptions not supported',
};

/** `0x87 not authorized`, for messages. */
export function reasonText(reasonCode: number): string {
  return `0x${reasonCode.toString(16).padStart(2, '0')} ${NAMES[reasonCode] ?? 'unknown reason'}`;
}

/** Stable codes of the client's errors. */
export const MqttErrorCode = {
  /** The broker refused: a CONNACK, PUBACK or SUBACK reason ≥ 0x80 (`reasonCode` holds it). */
  refused: 'MQTT_REFUSED',
  /** The broker sent bytes that are not a valid MQTT 5 packet, or a packet out of place. */
  protocolError: 'MQTT_PROTOCOL_ERROR',
  /** The broker sent a packet larger than the CONNECT's Maximum Packet Size. */
  packetTooLarge: 'MQTT_PACKET_TOO_LARGE',
  /** No PINGRESP (or any packet) within the keep-alive after a PINGREQ. */
  keepAliveTimeout: 'MQTT_KEEPALIVE_TIMEOUT',
  /** No CONNACK within the connect timeout. */
  connectTimeout: 'MQTT_CONNECT_TIMEOUT',
  /** A publish larger than the broker's Maximum Packet Size was not sent. */
  publishTooLarge: 'MQTT_PUBLISH_TOO_LARGE',
  /** The connection closed before the packet's acknowledgement. */
  connectionClosed: 'MQTT_CONNECTION_CLOSED',
} as const;

export type MqttErrorCodeValue = (typeof MqttErrorCode)[keyof typeof MqttErrorCode];

export class MqttError extends Error {
  override readonly name = 'MqttError';
  readonly code: MqttErrorCodeValue;
  /** The broker's reason code, for a refusal. */
  readonly reasonCode: number | undefined;

  constructor(
    code: MqttErrorCodeValue,
    message: string,
    options: { reasonCode?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reasonCode = options.reasonCode;
  }
}

/**
 * Bytes from the broker that break the spec. `reasonCode` is what our DISCONNECT tells the
 * broker before the connection is closed (0x81 malformed packet unless a more precise one).
 */
export class MalformedPacketError extends Error {
  override readonly name = 'MalformedPacketError';
  readonly reasonCode: number;

  constructor(message: string, reasonCode: number = ReasonCode.malformedPacket) {
    super(message);
    this.reasonCode = reasonCode;
  }
}
