import { DEFAULT_FORWARD_ALLOW } from '../forward/forward-targets.js';
import { Format } from './formats.js';

/**
 * The `forward` section (merged into the schema in src/config/schema.ts): TCP port forwarding
 * through the device (`iottly-agent forward`). README.md's configuration table has a row per key.
 *
 * Off by default, unlike the shell: a forward reaches past the device (its LAN, its loopback
 * services), which commands alone do not hand out as plainly. When on, only loopback targets
 * unless `allow` widens it.
 */
export const ForwardDefaults = {
  maxConnections: 64,
  connectTimeoutMs: 10_000,
  /** Ten minutes without a byte either way: a forgotten browser tab's keep-alive outlasts less. */
  idleTimeoutS: 600,
  /** A day: a tunnel is for a task, not a permanent link. */
  maxDurationS: 86_400,
} as const;

export const forwardSchema = {
  enabled: {
    doc: 'Accept port forwards (session_open kind forward): TCP connections from this device to targets in forward.allow. When false every forward is refused (forward_denied).',
    format: Format.strictBoolean,
    default: false,
  },
  allow: {
    doc: 'host:port patterns a forward may reach, * a wildcard ("10.0.0.*:502", "[::1]:22"); the host as asked AND the address it resolves to must match. JSON array, or "a:1,b:*".',
    format: Format.forwardTargets,
    default: [...DEFAULT_FORWARD_ALLOW],
  },
  maxConnections: {
    doc: 'Forwarded connections open at once (at most 1024); one more is refused at once with error busy.',
    format: Format.openRequestLimit,
    default: ForwardDefaults.maxConnections,
  },
  connectTimeoutMs: {
    doc: 'How long a forward waits for its target to accept the TCP connection (forward_failed after).',
    format: Format.ms,
    default: ForwardDefaults.connectTimeoutMs,
  },
  idleTimeoutS: {
    doc: 'A forward with no byte either way for this long is closed (its session_done says idle); 0: never.',
    format: Format.seconds,
    default: ForwardDefaults.idleTimeoutS,
  },
  maxDurationS: {
    doc: 'A forward open this long is closed, busy or not (its session_done says timed_out); 0: never.',
    format: Format.seconds,
    default: ForwardDefaults.maxDurationS,
  },
};
