/**
 * Stable error codes. They appear in `error` frames (`payload.code`) and HTTP error replies, and
 * a log line about the same failure carries the same `code`; README.md lists them: clients and
 * operators match on them, so a code is never renamed. Codes that only log lines carry are
 * LogCode (src/log/log-codes.ts).
 */
export const ErrorCode = {
  /** The frame is not valid JSON text (or was a binary frame where text was expected). */
  invalidJson: 'invalid_json',
  /** The frame is JSON but not an object with a string `type`. */
  missingType: 'missing_type',
  /** No handler exists for this `type` on the receiving side. */
  unknownType: 'unknown_type',
  /** A field is missing or has the wrong type; the message names the field. */
  invalidPayload: 'invalid_payload',
  /** A handler failed unexpectedly; the connection stays up. */
  internalError: 'internal_error',
  /** The device named in a request has never been registered with the hub. */
  unknownDevice: 'unknown_device',
  /** The device is registered but has no live connection right now. */
  deviceOffline: 'device_offline',
  /** A `subscribe` named only streams the device's last `hello` does not offer. */
  unknownStream: 'unknown_stream',
  /** A subscription id that does not exist (or belongs to another client). */
  unknownSubscription: 'unknown_subscription',
  /** A device said it was someone other than its credentials say. */
  deviceMismatch: 'device_mismatch',
  /** A device link sent something other than `hello` as its first frame. */
  helloRequired: 'hello_required',
  /** Missing or wrong API key or device token (HTTP 401, also at a WebSocket upgrade). */
  unauthorized: 'unauthorized',
  /** No such HTTP endpoint (HTTP 404). */
  notFound: 'not_found',
  /** The endpoint exists but not for this HTTP method (HTTP 405). */
  methodNotAllowed: 'method_not_allowed',
  /** A WebSocket endpoint was requested without a WebSocket upgrade (HTTP 426). */
  upgradeRequired: 'upgrade_required',
  /** A telemetry stream could not be read or gave no number; reported once per streak. */
  telemetryReadFailed: 'telemetry_read_failed',
  /** A command stream did not finish within its timeout and was killed. */
  telemetryTimeout: 'telemetry_timeout',
  /** `commands.maxConcurrent` commands are already running; nothing was started. */
  busy: 'busy',
  /** A request with this request_id is already running (on the device, or pending at the hub). */
  duplicateRequest: 'duplicate_request',
  /** The command policy (commands.enabled, allow, deny, allowShell, allowEnv) refused it; it never started. */
  commandDenied: 'command_denied',
  /**
   * A `session_open` on a device whose `shell.enabled` is false (commands may still run), or
   * whose command policy does not name the login shell it would start.
   */
  shellDenied: 'shell_denied',
  /** The command could not be started (no such program or cwd, no permission to switch user). */
  commandFailed: 'command_failed',
  /** `command_cancel`/`command_input` for a command that is not running (or already done). */
  unknownRequest: 'unknown_request',
  /**
   * The device came back on a new link without a request the hub had forwarded on its earlier
   * one, and no final reply came in what it resent: it never got it, so it may not have run.
   */
  requestLost: 'request_lost',
  /** An `app_command` found no connected app (of that name) on the device. */
  appNotConnected: 'app_not_connected',
  /** An app called an agent routine that `local.actions` does not define. */
  unknownAction: 'unknown_action',
  /** A webhook definition is invalid (HTTP 400, or a bad `--webhooks` file). */
  invalidWebhook: 'invalid_webhook',
  /** A 6th webhook (the hub keeps at most 5). */
  webhookLimit: 'webhook_limit',
  /** A request body larger than the endpoint accepts (HTTP 413). */
  payloadTooLarge: 'payload_too_large',
  /** A genuine session token whose time is up (HTTP 401): get a new one with the API key. */
  sessionExpired: 'session_expired',
  /**
   * A genuine credential that this endpoint does not take (HTTP 403): a session token on an
   * endpoint that needs the API key itself (`/v1/webhooks`).
   */
  insufficientScope: 'insufficient_scope',
  /**
   * The hub dropped telemetry or app events for a stream client that did not read them fast
   * enough; the `error` frame (no request_id) says how many in `payload.dropped`.
   */
  framesDropped: 'frames_dropped',
  /** The device does not read what the hub sends it: the request was refused, not queued. */
  deviceBusy: 'device_busy',
  /** The client has as many subscriptions as the hub allows one client. */
  tooManySubscriptions: 'too_many_subscriptions',
  /** The client has as many requests waiting for a device as the hub allows one client. */
  tooManyRequests: 'too_many_requests',
  /**
   * A binary frame that cannot be used: shorter than its header, too large, an unknown kind or
   * fd, data on an eof, or binary frames on a link that did not negotiate them (the message says
   * which). The connection stays up.
   */
  invalidFrame: 'invalid_frame',
  /** A binary frame for a stream number that no open request or session of this connection uses. */
  unknownByteStream: 'unknown_byte_stream',
  /**
   * A command's client sent stdin past the agent's bound (16 MiB not yet taken by the command),
   * ignoring `input_consumed`: the command was cancelled. Logged by the agent. A forward's client
   * that sends twice its window past what the target took has its forward ended with it (an
   * `error` frame).
   */
  inputOverflow: 'input_overflow',
  /**
   * A file transfer refused: `files.enabled` is false, the path is outside `files.allowPaths`
   * (also through a symlink or `..`), or the user transfers run as may not read or write it.
   */
  fileDenied: 'file_denied',
  /** A `file_get` for a file that does not exist (or is not a regular file). */
  fileNotFound: 'file_not_found',
  /** A file larger than `files.maxBytes`. */
  fileTooLarge: 'file_too_large',
  /**
   * What arrived does not have the sha256 it was sent with (nothing was written in its place),
   * or a resumed download's offset is past the end of the device's file (it changed since).
   */
  fileCorrupt: 'file_corrupt',
  /** A port forward refused: `forward.enabled` is false, or `forward.allow` has no such target. */
  forwardDenied: 'forward_denied',
  /** A port forward's target could not be reached (refused, timed out, no such host). */
  forwardFailed: 'forward_failed',
  /**
   * The hub could not hold a session's input while its device was away (more than the session's
   * window): the session was ended rather than have bytes silently go missing.
   */
  dataLost: 'data_lost',
  // Agent updates (issue 17; docs/protocol.md "Updating the agent").
  /**
   * The device does not take updates: `update.enabled` false, no `update.publicKeys`, an agent
   * installed by the .deb (update it with apt), not a single binary, or an install directory
   * it cannot write.
   */
  updateDenied: 'update_denied',
  /** The artifact's signature is by no trusted key, does not verify, or differs from the request. */
  updateBadSignature: 'update_bad_signature',
  /** The artifact is built for another architecture than this agent's. */
  updateWrongArch: 'update_wrong_arch',
  /** The artifact's version is not newer than the running one and `downgrade` was not set. */
  updateNotNewer: 'update_not_newer',
  /** The artifact is larger than `update.maxBytes`. */
  updateTooLarge: 'update_too_large',
  /** The bytes received are not the artifact: fewer (truncated), more, or another sha256. */
  updateCorrupt: 'update_corrupt',
  /**
   * An artifact upload the hub refuses (HTTP 400): a version or arch that is not a valid name, a
   * signature file that is not one, or bytes whose size or sha256 are not the ones it names.
   */
  invalidArtifact: 'invalid_artifact',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
