import { ExitCode } from './exit-codes.js';

/** `iottly-agent forward --help` (apart from forward.ts, which only `forward` loads). */
export const FORWARD_HELP = `usage: iottly-agent forward [flags] DEVICE [BIND_ADDR:]LOCAL_PORT:HOST:PORT

Listens on LOCAL_PORT (on BIND_ADDR, default 127.0.0.1; * for every address; 0 picks a free
port) and carries every connection to it through the hub to HOST:PORT as DEVICE sees it, as
ssh -L does. The device must allow it: forward.enabled and forward.allow (loopback only by
default). Prints a line when listening; each connection's open and close go to stderr. If the
hub's connection drops, the connections it carried close and new ones wait for the reconnect.
Runs until SIGINT or SIGTERM (exit 0); exits ${ExitCode.execFailed} when the local port cannot be bound or the
hub refuses the API key, 64 for a bad command line.

  --hub URL          the hub (http, https, ws or wss; its /v1/stream). Default: IOTTLY_HUB_URL
  --api-key KEY      a stream API key of the hub. Default: IOTTLY_API_KEY`;
