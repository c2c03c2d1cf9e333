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
  /** Input data was not valid (`publish`: a message that is not a JSON object). */
  dataErr: 65,
  /** A service needed is not there (`publish`: the agent is not running). */
  unavailable: 69,
  /** An unexpected internal failure (a bug): systemd restarts the agent. */
  software: 70,
  /** An output file cannot be written (`broker-config`: the --out folder). */
  cannotCreate: 73,
  /** Another agent holds `storage.dir`: systemd retries, and this one starts once it is gone. */
  tempFail: 75,
  /** The configuration is invalid: restarting cannot help (RestartPreventExitStatus=78). */
  config: 78,
  /**
   * `exec`: the hub or the device could not run the command (unreachable hub, refused key, unknown
   * or offline device, command refused, link lost): as ssh does, 255; the reason is on stderr.
   */
  execFailed: 255,
} as const;
