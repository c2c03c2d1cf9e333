import { Format } from './formats.js';

/**
 * The `shell` section (merged into the schema in src/config/schema.ts): interactive shell
 * sessions. README.md's configuration table has a row per key.
 *
 * On by default: a session is refused anyway while `commands.enabled` is false, and with
 * commands on and no policy a shell gives nothing a `command` cannot already do; an operator who
 * allows commands expects `iottly-agent shell DEVICE` to work as `ssh` would.
 */
export const ShellDefaults = {
  idleTimeoutS: 900,
  maxSessions: 4,
} as const;

export const shellSchema = {
  enabled: {
    doc: 'Accept interactive shell sessions (session_open) from the hub; also needs commands.enabled, and the command policy (see README, Shell sessions). When false every session is refused (shell_denied).',
    format: Format.strictBoolean,
    default: true,
  },
  idleTimeoutS: {
    doc: 'A session with no keystroke, resize or output for this long is ended (every process of it) and its session_done says idle; 0: never.',
    format: Format.seconds,
    default: ShellDefaults.idleTimeoutS,
  },
  maxSessions: {
    doc: 'Shell sessions open at once (at most 1024); one more is refused at once with error busy.',
    format: Format.openRequestLimit,
    default: ShellDefaults.maxSessions,
  },
};
