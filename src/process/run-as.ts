/**
 * The user and group a child process runs as (set when the agent runs as root): resolved from
 * the configuration at start-up by src/config/run-as.ts.
 */
export interface RunAs {
  uid: number;
  gid: number;
  /** Set when the user is in the passwd file: the child's HOME, USER and LOGNAME. */
  name?: string;
  home?: string;
  /** Set when the user is in the passwd file: the login shell a shell session starts. */
  shell?: string;
}
