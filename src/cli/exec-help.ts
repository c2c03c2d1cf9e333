import { ExitCode } from './exit-codes.js';

/** `iottly-agent exec --help` (apart from exec.ts, which only `exec` loads). */
export const EXEC_HELP = `usage: iottly-agent exec [flags] DEVICE -- CMD [ARGS…]

Runs CMD with ARGS on DEVICE through the hub (no shell: use sh -c '…' for one), with the remote
stdout and stderr on the local ones as raw bytes and the local stdin forwarded. Exits with the
remote command's status (128 + signal number when it was killed), ${ExitCode.execFailed} when the hub or
the device could not run it (the reason on stderr), 64 for a bad command line.

  --hub URL          the hub (http, https, ws or wss; its /v1/stream). Default: IOTTLY_HUB_URL
  --api-key KEY      a stream API key of the hub. Default: IOTTLY_API_KEY
  -n, --no-stdin     do not forward stdin (the command reads /dev/null)
  --timeout S        seconds before the device ends the command (default: its commands.defaultTimeoutS)`;
