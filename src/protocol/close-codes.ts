/**
 * WebSocket close codes the agent, the hub and the console send or act on (RFC 6455 §7.4; the
 * 4000–4999 range is the hub's own). docs/protocol.md says when each is sent.
 */
export const CloseCode = {
  /** A peer shuts down on purpose (the agent at SIGTERM, the console when closed). */
  normal: 1000,
  /** The hub is shutting down ("server restart"): reconnect soon, not after a long back-off. */
  goingAway: 1001,
  /** The peer broke the protocol (the agent refusing an unusable welcome). */
  protocolError: 1002,
  /** No hello in time, or a hello naming another device. */
  policyViolation: 1008,
  /** A newer connection of the same device replaced this one. */
  replaced: 4000,
  /** The peer did not answer a ping in time. */
  noPong: 4001,
  /**
   * The device's token was removed from the hub's `--device-tokens` file or changed there (a
   * SIGHUP reload): the link is closed, and a redial with the old token is refused with 401.
   */
  credentialsRevoked: 4003,
  /**
   * The peer did not read what the hub sent it (its send queue passed its byte limit, or it held
   * a device's output back too long): "policy violation" (1008) in the private range, as no
   * standard code says "slow consumer".
   */
  slowConsumer: 4008,
} as const;
