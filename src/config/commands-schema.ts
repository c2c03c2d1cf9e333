import { Format } from './formats.js';
import { DEFAULT_ALLOW_ENV } from '../commands/env-policy.js';

/**
 * The `commands` section of the configuration (merged into the schema in src/config/schema.ts).
 * README.md's configuration table has a row per key.
 */
export const CommandDefaults = {
  defaultTimeoutS: 300,
  maxTimeoutS: 3_600,
  killGraceMs: 2_000,
  maxConcurrent: 4,
  maxOutputBytes: 16 * 1024 * 1024,
} as const;

export const commandsSchema = {
  enabled: {
    doc: 'Accept remote commands from the hub. When false every command is refused (command_denied).',
    format: Format.strictBoolean,
    default: true,
  },
  defaultTimeoutS: {
    doc: 'Timeout of a command that names none; then its process group gets SIGTERM, SIGKILL after killGraceMs.',
    format: Format.positiveInt,
    default: CommandDefaults.defaultTimeoutS,
  },
  maxTimeoutS: {
    doc: 'Largest timeout_s a command may ask for; larger requests are cut down to this.',
    format: Format.positiveInt,
    default: CommandDefaults.maxTimeoutS,
  },
  killGraceMs: {
    doc: "Time between SIGTERM and SIGKILL to a command's process group (timeout, cancel, output cap, shutdown).",
    format: Format.ms,
    default: CommandDefaults.killGraceMs,
  },
  maxConcurrent: {
    doc: 'Commands running at once (at most 1024, what hello.open_requests can list); one more is refused at once with error busy.',
    format: Format.openRequestLimit,
    default: CommandDefaults.maxConcurrent,
  },
  maxOutputBytes: {
    doc: 'Output bytes (stdout + stderr) a command may produce; beyond, its group is ended and command_done says truncated.',
    format: Format.positiveInt,
    default: CommandDefaults.maxOutputBytes,
  },
  allow: {
    doc: 'Regular expressions; when any is set, only command lines matching one of them run. A JSON array (env/flag: a JSON array string).',
    format: Format.regexList,
    default: [] as string[],
  },
  deny: {
    doc: 'Regular expressions; a command line matching any of them is refused, even when allowed.',
    format: Format.regexList,
    default: [] as string[],
  },
  allowShell: {
    doc: 'With an allow list, also accept shell lines holding shell metacharacters (; & | < > $ ` quotes globs …).',
    format: Format.strictBoolean,
    default: false,
  },
  allowEnv: {
    doc: 'With allow or deny set: the env variables a command request may set (names, PREFIX*, or *). Names that can change which program runs or what it loads (PATH, SHELL, LD_*, BASH_ENV…) are refused even when listed.',
    format: Format.envNameList,
    default: [...DEFAULT_ALLOW_ENV],
  },
  user: {
    doc: "Run commands as this user (name or uid) when the agent runs as root; empty for the agent's own user.",
    format: Format.optionalString,
    default: '',
  },
  group: {
    doc: "Run commands with this group (name or gid); empty for the user's primary group.",
    format: Format.optionalString,
    default: '',
  },
};
