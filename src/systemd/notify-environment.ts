/**
 * What systemd hands a `Type=notify` service through its environment (see sd_notify(3) and
 * sd_watchdog_enabled(3)): where to send notifications, and whether and how often it expects
 * `WATCHDOG=1`. Read once at start-up; a malformed value is reported, never fatal.
 */
export interface NotifyEnvironment {
  /** The `NOTIFY_SOCKET` path (or `@abstract` name); null when not run by systemd as notify. */
  socket: string | null;
  /** Half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises; null when no watchdog is for us. */
  watchdogIntervalMs: number | null;
  /** One line per malformed variable, for the log. */
  problems: string[];
}

/** The variables this reads; the caller removes them so operators' commands do not inherit them. */
export const NOTIFY_VARIABLES = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'] as const;

export function readNotifyEnvironment(
  env: Record<string, string | undefined>,
  pid: number,
): NotifyEnvironment {
  const problems: string[] = [];
  const rawSocket = env.NOTIFY_SOCKET ?? '';
  let socket: string | null = null;
  if (rawSocket !== '') {
    if (rawSocket.startsWith('/') || rawSocket.startsWith('@')) socket = rawSocket;
    else problems.push(`NOTIFY_SOCKET must be an absolute path or @name (got "${rawSocket}")`);
  }

  let watchdogIntervalMs: number | null = null;
  const usec = env.WATCHDOG_USEC;
  const watchdogPid = env.WATCHDOG_PID;
  if (socket !== null && usec !== undefined) {
    if (!/^\d+$/.test(usec) || Number(usec) === 0) {
      problems.push(`WATCHDOG_USEC must be a positive integer (got "${usec}")`);
    } else if (watchdogPid !== undefined && watchdogPid !== String(pid)) {
      // The watchdog belongs to another process (we were started by it); not ours to pet.
    } else {
      watchdogIntervalMs = Math.max(1, Math.floor(Number(usec) / 2_000));
    }
  }
  return { socket, watchdogIntervalMs, problems };
}

/**
 * Reads the variables, then removes them from `env` (sd_notify's unset_environment), so that
 * processes the agent starts do not inherit a channel to systemd.
 */
export function takeNotifyEnvironment(
  env: Record<string, string | undefined>,
  pid: number,
): NotifyEnvironment {
  const environment = readNotifyEnvironment(env, pid);
  for (const name of NOTIFY_VARIABLES) delete env[name];
  return environment;
}
