/**
 * Stable codes of log lines (`code`) that never travel in a frame or an HTTP reply. A failure
 * that is also answered on the wire logs its ErrorCode (src/protocol/error-codes.ts) instead,
 * so every code is defined once. README.md lists them all ("Error codes", and the systemd log
 * codes), and test/unit/log-codes.test.ts keeps the two in step: operators match on them, so a
 * code is never renamed.
 */
export const LogCode = {
  // The agent's link to the hub (also the `reason` of a `backoff` status).
  /** The hub (HTTP 401/403 at the upgrade) or the broker (CONNACK 0x86/0x87) refused the agent's credentials; once per streak. */
  authRejected: 'auth_rejected',
  /** The TLS handshake failed (untrusted or invalid certificate). */
  tlsError: 'tls_error',
  /** A dial did not complete within the dial timeout. */
  dialTimeout: 'dial_timeout',
  /**
   * Agent: the link was silent longer than the heartbeat allows and was terminated. Hub: no pong
   * within the timeout of a ping; the connection was closed 4001.
   */
  heartbeatTimeout: 'heartbeat_timeout',
  /** The hub answered the WebSocket upgrade with an HTTP status other than 101, 401 and 403. */
  httpError: 'http_error',
  /**
   * Agent: the socket failed with an error that has no errno name (one that has logs that name).
   * Hub: a peer's WebSocket failed (a protocol violation, a frame over the size limit).
   */
  socketError: 'socket_error',
  /** The hub closed a working link with 1001 (going away): it is restarting; redial soon. */
  hubRestart: 'hub_restart',
  /**
   * The hub's `welcome.last_seq` leaves the agent no room to number on (above 2^48 − 2^40): a
   * broken hub. Not used, not stored; the link is closed (1002) and dialled again.
   */
  hubSeqInvalid: 'hub_seq_invalid',
  /** MQTT: the broker refused the connection (a CONNACK reason other than credentials), the
   * subscription to the device's `down` topic, or a publish (its ACL, a quota); the link is
   * closed and dialled again after the back-off. The message names the MQTT reason. */
  brokerRefused: 'broker_refused',
  /** MQTT: the broker sent DISCONNECT (session taken over by another client with this id, shutting down, …). */
  brokerDisconnected: 'broker_disconnected',
  /**
   * MQTT: the broker sent a malformed packet, one out of place, or one over the agent's Maximum
   * Packet Size; the agent told it why (DISCONNECT with the reason) and redials.
   */
  brokerProtocolError: 'broker_protocol_error',
  /** MQTT: the broker connection closed and nothing before it said why. */
  brokerClosed: 'broker_closed',
  /** MQTT: a message on `down` was over 1 MiB or not UTF-8 text; it was dropped, the link stays. */
  frameRefused: 'frame_refused',
  /**
   * MQTT: a `welcome` came on a link already online (another hub took the device over): the
   * outbox sends again everything after its `last_seq`.
   */
  linkRewound: 'link_rewound',
  /**
   * A `command` came under a request_id the agent is running or ran among its last 256: the
   * link delivered it twice (a broker back from its last save); the copy is ignored.
   */
  commandRedelivered: 'command_redelivered',

  // The agent process.
  /** A configuration value is invalid; the process exits with code 78. */
  configInvalid: 'config_invalid',
  /**
   * An error nothing caught (an uncaught exception or unhandled rejection): the process ends
   * every running command's process group and exits 70.
   */
  fatalError: 'fatal_error',
  /** The periodic line of what the agent process holds: memory, link, outbox, uptime. */
  vitals: 'vitals',
  /** The agent reports dropped messages upstream in a `status` message after connecting. */
  dropReport: 'drop_report',
  /** The hub acknowledged a seq not sent on this link; the excess is ignored. */
  ackAhead: 'ack_ahead',

  // The spool (storage.dir).
  /** The spool cannot write (disk full, read-only, gone): messages are held in memory. */
  storageDegraded: 'storage_degraded',
  /** The spool writes again; what was held in memory is on disk. */
  storageRecovered: 'storage_recovered',
  /** A spool segment could not be read (dropped and reported) or synced at shutdown. */
  storageError: 'storage_error',
  /** A torn or corrupt record (a write cut short): the rest of that segment is skipped. */
  spoolTornRecord: 'spool_torn_record',
  /** The spool gave up messages (`maxBytes`, `maxAgeS`, memory bound); reported upstream. */
  spoolDropped: 'spool_dropped',
  /** `store.json` was missing: the segments are replayed under a new store identity. */
  spoolMetaMissing: 'spool_meta_missing',
  /** The hub had seen seqs this spool never recorded: a new store identity, seqs above the hub's. */
  storeRotated: 'store_rotated',
  /** `store.json` holds a seq too high to number on from: a new store identity. */
  spoolSeqInvalid: 'spool_seq_invalid',
  /** The spool holds another device's store: it is moved aside and a new store begins. */
  spoolDeviceChanged: 'spool_device_changed',
  /** Another agent process holds `storage.dir`; this one exits with 75. */
  spoolLocked: 'spool_locked',
  /** `storage.dir` could not be locked (not Linux, no Unix sockets): the agent runs on. */
  spoolLockUnavailable: 'spool_lock_unavailable',

  // Telemetry.
  /** This device cannot provide a stream (no thermal zone, …); logged once. */
  streamUnavailable: 'stream_unavailable',

  // Local apps (the SDK socket).
  /** A local-socket line was not a valid SDK message; it was skipped. */
  malformedLine: 'malformed_line',
  /** A local-socket line exceeded `local.maxLineBytes`; that app's connection was closed. */
  lineTooLong: 'line_too_long',
  /** An app did not read its lines in time; its oldest queued lines were dropped. */
  appQueueFull: 'app_queue_full',
  /** An app's message would not fit one frame to the hub; it was dropped. */
  appMessageTooLarge: 'app_message_too_large',
  /** `local.maxApps` apps were connected already; a new one was refused. */
  tooManyApps: 'too_many_apps',
  /** Another process serves `local.socketPath`. */
  socketInUse: 'socket_in_use',
  /** `local.socketPath` exists and is not a socket (it is never deleted). */
  socketPathOccupied: 'socket_path_occupied',
  /** The local socket could not be opened; the agent runs on without local apps. */
  localSocketFailed: 'local_socket_failed',

  // systemd.
  /** A `systemd-notify` run failed; logged once per failing streak. */
  systemdNotifyFailed: 'systemd_notify_failed',
  /** `NOTIFY_SOCKET` is set but `systemd-notify` is not on PATH. */
  systemdNotifyUnavailable: 'systemd_notify_unavailable',
  /** `NOTIFY_SOCKET` or `WATCHDOG_USEC` is malformed and ignored. */
  systemdEnvInvalid: 'systemd_env_invalid',
  /** The event loop stalled or the connection loop is stuck: no `WATCHDOG=1` this round. */
  watchdogWithheld: 'watchdog_withheld',

  // The hub.
  /** `iottly-agent hub` cannot listen on its host and port; one line on stderr, exit 69. */
  hubListenFailed: 'hub_listen_failed',
  /** A peer did not read what the hub sent it; it was closed with 4008. */
  slowConsumer: 'slow_consumer',
  /** A device reported messages it had to drop. */
  deviceDropped: 'device_dropped',
  /** A webhook delivery failed for good (after its retries, or with a 3xx/4xx). */
  webhookDeliveryFailed: 'webhook_delivery_failed',
  /** A webhook's queue was full; its oldest pending deliveries were dropped. */
  webhookQueueFull: 'webhook_queue_full',
  /** `hub --broker`: the connection to the MQTT broker failed or was lost; the hub redials. */
  brokerLinkFailed: 'broker_link_failed',
  /**
   * `--device-tokens FILE` was read again (SIGHUP): how many devices were added, removed and
   * given another token, and how many the hub now holds.
   */
  deviceTokensReloaded: 'device_tokens_reloaded',
  /**
   * `--device-tokens FILE` cannot be read or has a bad line (the message names FILE:LINE). At
   * start the hub exits 78; on a SIGHUP reload it keeps the devices it had.
   */
  deviceTokensInvalid: 'device_tokens_invalid',
  /** A device's token was removed or changed by a reload: its link was closed with 4003. */
  deviceCredentialsRevoked: 'credentials_revoked',
  /** `hub --broker`: a retained fleet message (presence, cursor, wants) was malformed; ignored. */
  fleetMessageInvalid: 'fleet_message_invalid',
  /** An update's bytes are verified and the new binary swapped in; the agent restarts into it. */
  updateInstalled: 'update_installed',
  /** The updated agent came online in time: the update stays (`update_result` ok). */
  updateConfirmed: 'update_confirmed',
  /**
   * The previous binary was restored: the new one did not come online within
   * `update.healthTimeoutS` (by the agent), or crashed at start (by the update guard).
   */
  updateRolledBack: 'update_rolled_back',
  /** The update's state or files could not be read or written; the running binary stays. */
  updateFailed: 'update_failed',
} as const;

export type LogCode = (typeof LogCode)[keyof typeof LogCode];

/**
 * Codes built at run time, written as README writes them. `closed_<code>`: the link closed with
 * that WebSocket close code and nothing before it said why. `<errno>`: a system error's own name
 * as Node gives it (`ECONNREFUSED`, `ENOTFOUND`, …), kept so that it can be looked up.
 */
export const LogCodePattern = {
  closed: 'closed_<code>',
  errno: '<errno>',
} as const;

/** The `closed_<code>` code of a link closed with `closeCode` and no earlier cause. */
export function closedLogCode(closeCode: number): string {
  return `closed_${closeCode}`;
}
