import { ExitCode } from './exit-codes.js';

/** Attempts after a dropped hub connection (each resumes where the last stopped). */
export const CP_RETRIES = 5;

/** `iottly-agent cp --help` (apart from cp.ts, which only `cp` loads). */
export const CP_HELP = `usage: iottly-agent cp [flags] LOCAL DEVICE:PATH    (upload)
       iottly-agent cp [flags] DEVICE:PATH LOCAL    (download)

Copies one file to or from DEVICE through the hub, as scp does. PATH is absolute and must lie
in the device's files.allowPaths; a PATH ending in /, or a LOCAL ending in / or naming a
directory, gets the other side's file name. The file is streamed (never held in memory),
checked with sha256 end to end, and written beside its target under a temporary name, renamed
into place only once whole and verified. An interrupted copy resumes where it stopped: run the same command again (a
dropped hub connection is retried at once, ${CP_RETRIES} times with back-off).

  --hub URL          the hub (http, https, ws or wss; its /v1/stream). Default: IOTTLY_HUB_URL
  --api-key KEY      a stream API key of the hub. Default: IOTTLY_API_KEY
  --mode OCTAL       upload: the file's permission bits (default: the existing file's, else 644)
  --owner USER       upload: the file's owner, when the agent may set it (it runs as root)

Exit status: 0 copied; 64 a bad command line; ${ExitCode.dataErr} the bytes written did not match (file_corrupt,
nothing put in place); ${ExitCode.noInput} the local file cannot be read; ${ExitCode.cannotCreate} the local target cannot be
written; ${ExitCode.execFailed} the hub or the device refused or failed (file_denied, file_not_found,
file_too_large, unreachable hub, …: the reason on stderr).`;
