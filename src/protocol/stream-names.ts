/**
 * The built-in telemetry streams, by name: what an agent can announce as `telemetry:<name>` and
 * a stream client can subscribe to (`network` covers `network.rx` and `network.tx`).
 */
export const BUILTIN_STREAMS = [
  'cpu',
  'memory',
  'temperature',
  'load',
  'disk',
  'network.rx',
  'network.tx',
  'uptime',
] as const;
export type BuiltinStream = (typeof BUILTIN_STREAMS)[number];
