/**
 * Flags of `iottly-agent hub`, which `hub --help` prints. Apart from hub-args.ts so that help
 * does not load the hub (the agent's start-up should not pay for it).
 */
export const HUB_FLAGS = `  --host HOST                     interface to listen on (127.0.0.1)
  --port PORT                     TCP port, 0 = any free one (0)
  --api-key KEY                   an accepted API key (repeatable; one is generated if none)
  --device-token ID=TOKEN         a device allowed to connect (repeatable)
  --device-tokens FILE            the fleet's devices, one ID=TOKEN or ID=sha256:HEX a line;
                                  read again on SIGHUP (README: "Device tokens file")
  --ping-interval-ms MS           ping period on both endpoints (30000)
  --pong-timeout-ms MS            a peer whose pong is later than this is terminated (10000)
  --session-ttl-s S               lifetime of browser session tokens (900)
  --tls-cert FILE --tls-key FILE  serve https/wss (both or neither)
  --state-dir DIR                 keep delivery cursors here across restarts (memory only)
  --max-subscriptions-per-client N  subscriptions one stream client may hold (100)
  --artifacts DIR                 keep agent artifacts for updates here (<state-dir>/artifacts;
                                  none without --state-dir); README: "Updating the agent"
  --artifact-max-bytes N          largest artifact upload (268435456)
  --update-concurrency N          devices downloading an update at once (4)
  --update-key ed25519:KEY        refuse artifact uploads signed by no such key (repeatable;
                                  none: the devices alone judge the signer)
  --webhooks FILE                 a JSON array of webhooks to start with
  --broker URL                    serve the fleet of an MQTT broker (mqtt://, mqtts://): any number
                                  of hubs on one broker serve one fleet; /v1/device is off
  --broker-username U             the hub's user name on the broker
  --broker-password-file F        a file holding the hub's broker password
  --broker-ca F                   PEM file of the CA of the broker's certificate (mqtts://)
  --log-level LEVEL               fatal|error|warn|info|debug|trace|silent (info)
  --log-format FORMAT             auto (readable on a terminal, else JSON lines)|json|pretty (auto)`;
