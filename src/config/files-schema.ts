import { Format } from './formats.js';

/**
 * The `files` section (merged into the schema in src/config/schema.ts): file transfers with
 * `iottly-agent cp` (docs/protocol.md, "File transfers"). README.md's configuration table has a
 * row per key.
 *
 * Off by default, and with no root to write to when turned on: a transfer writes files as the
 * agent's user (root, usually), so an operator names the directories it may touch.
 */
export const FilesDefaults = {
  maxBytes: 1024 * 1024 * 1024,
  partMaxAgeH: 72,
  idleTimeoutS: 600,
} as const;

export const filesSchema = {
  enabled: {
    doc: 'Accept file transfers (iottly-agent cp: session kinds file_put and file_get) from the hub. When false every transfer is refused (file_denied).',
    format: Format.strictBoolean,
    default: false,
  },
  allowPaths: {
    doc: 'Directories transfers may read and write, with everything below them (real paths: symlinks and ".." cannot leave them). A JSON array or "/a,/b"; empty refuses every path (file_denied).',
    format: Format.absolutePathList,
    default: [] as string[],
  },
  maxBytes: {
    doc: 'Largest file a transfer may write or read, in bytes; a larger one is refused (file_too_large).',
    format: Format.positiveInt,
    default: FilesDefaults.maxBytes,
  },
  partMaxAgeH: {
    doc: 'An upload given up leaves its temporary file (.NAME.SHA.iottly-part) for a resume; one untouched this many hours is removed before the next upload into its folder.',
    format: Format.positiveInt,
    default: FilesDefaults.partMaxAgeH,
  },
  idleTimeoutS: {
    doc: 'A transfer with no byte and no acknowledgement from its client this many seconds is ended (session_done idle: true; an upload keeps its part for a resume). 0: never.',
    format: Format.seconds,
    default: FilesDefaults.idleTimeoutS,
  },
};
