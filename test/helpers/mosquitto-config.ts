/**
 * The lines of a mosquitto.conf for a broker of our own on one loopback port with persistence in
 * `dir`: one builder for the tests' broker (test/helpers/mosquitto.ts) and the benches'
 * (bench/lib/mosquitto-process.ts), which differ only in the options below.
 */
export interface MosquittoConfig {
  port: number;
  /** Its persistence folder. */
  dir: string;
  /** Seconds between autosaves of the persistence file (mosquitto's default, 1800, if unset). */
  autosaveIntervalS?: number;
  /** A line per client connecting (the tests read them); off for a fleet of thousands. */
  connectionMessages: boolean;
  /** QoS 1 messages in flight to one client before its acknowledgements come back. */
  maxInflight: number;
  /** Messages queued for a client that lags; past it, mosquitto drops QoS 1 too. */
  maxQueued: number;
  /**
   * The user to run as. Started by root, mosquitto drops to the `mosquitto` user, which may
   * not write the temporary folder (0700): every autosave and the save at SIGTERM would fail.
   */
  user?: string;
  /** A mosquitto_passwd file: without it, anonymous clients are allowed. */
  passwordFile?: string;
  /** A mosquitto ACL file (with passwordFile). */
  aclFile?: string;
  /** More lines (for example a TLS listener). */
  extra?: readonly string[];
}

export function mosquittoConfig(config: MosquittoConfig): string {
  const lines = [
    `listener ${config.port} 127.0.0.1`,
    'persistence true',
    `persistence_location ${config.dir}/`,
    ...(config.autosaveIntervalS !== undefined
      ? [`autosave_interval ${config.autosaveIntervalS}`]
      : []),
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information', // "running", when the listener is open
    `connection_messages ${config.connectionMessages}`,
    `max_inflight_messages ${config.maxInflight}`,
    `max_queued_messages ${config.maxQueued}`,
    ...(config.user !== undefined ? [`user ${config.user}`] : []),
  ];
  if (config.passwordFile) {
    lines.push('allow_anonymous false', `password_file ${config.passwordFile}`);
    if (config.aclFile) lines.push(`acl_file ${config.aclFile}`);
  } else lines.push('allow_anonymous true');
  lines.push(...(config.extra ?? []));
  return `${lines.join('\n')}\n`;
}
