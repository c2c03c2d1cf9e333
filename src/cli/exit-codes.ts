/** Process exit codes (sysexits.h where one fits); README lists them, systemd keys off 78. */
export const ExitCode = {
  ok: 0,
  /**
   * The agent installed an update, or rolled one back, and stopped so that it runs again as the
   * binary now in place: systemd's Restart=always starts it (README "Updating the agent").
   */
  restart: 3,
  /** The command line could not be understood. */
  usage: 64,
  /**
   * Input data was not valid (`publish`: a message that is not a JSON object; `cp`: the bytes
   * written did not have the sender's sha256, file_corrupt, and nothing was put in place).
   */
  dataErr: 65,
  /** `cp`: the local source file cannot be read (missing, a directory, no permission). */
  noInput: 66,
  /** A service needed is not there (`publish`: the agent is not running). */
  unavailable: 69,
  /** An unexpected internal failure (a bug): systemd restarts the agent. */
  software: 70,
  /** An output file cannot be written (`broker-config`: the --out folder; `cp`: the local target). */
  cannotCreate: 73,
  /** Another agent holds `storage.dir`: systemd retries, and this one starts once it is gone. */
  tempFail: 75,
  /** The configuration is invalid: restarting cannot help (RestartPreventExitStatus=78). */
  config: 78,
  /**
   * `exec`: the hub or the device could not run the command (unreachable hub, refused key, unknown
   * or offline device, command refused, link lost): as ssh does, 255; the reason is on stderr.
   * `shell` and `cp` alike (cp: also a transfer the device refused, file_denied and the like).
   * `forward`: the local port cannot be bound, or the hub refused the API key (a refused or
   * failed connection closes only that connection; a dropped hub link is redialled).
   */
  execFailed: 255,
} as const;
