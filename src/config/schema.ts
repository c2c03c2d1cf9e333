import { FSYNC_POLICIES } from '../storage/fsync-policy.js';
import { LOG_FORMATS, LOG_LEVELS } from '../log/logger.js';
import { commandsSchema } from './commands-schema.js';
import { shellSchema } from './shell-schema.js';
import { forwardSchema } from './forward-schema.js';
import { filesSchema } from './files-schema.js';
import { updateSchema } from './update-schema.js';
import { SYSTEM_SOCKET_PATH, SYSTEM_STATE_DIR } from './default-paths.js';
import { Format } from './formats.js';
import { telemetryConfigSchema } from './telemetry-schema.js';

/**
 * Every configuration key: doc, default and format. README.md's table is this file in prose.
 * Environment and flag names are derived from the key (see `envName`, `flagName`), so they
 * cannot drift from it.
 */
export const DEFAULT_CONFIG_PATH = '/etc/iottly-agent/config.json';

export const Defaults = {
  heartbeatIntervalMs: 30_000,
  heartbeatTimeoutMs: 10_000,
  reconnectInitialDelayMs: 1_000,
  reconnectMaxDelayMs: 30_000,
  dialTimeoutMs: 15_000,
  closeTimeoutMs: 2_000,
  outboxMaxMessages: 10_000,
  outboxHighWaterBytes: 1 << 20,
  /** For root; see default-paths.ts for systemd and other users. */
  storageDir: SYSTEM_STATE_DIR,
  storageMaxBytes: 64 * 1024 * 1024,
  storageMaxAgeS: 7 * 86_400,
  storageFlushIntervalMs: 50,
  storageFsyncIntervalMs: 5_000,
  storageRetryIntervalMs: 10_000,
  storageSpillAfterMs: 1_000,
  deliveryWindowMessages: 20_000,
  localMaxApps: 64,
  localMaxLineBytes: 1 << 20,
  localAppQueueLines: 1_000,
  localAppQueueBytes: 4 * 1024 * 1024,
  localTotalAppQueueBytes: 16 * 1024 * 1024,
  vitalsIntervalS: 600,
  mqttSessionExpiryS: 86_400,
} as const;

/** The SDK socket's path for root when local.socketPath is empty and systemd gives no RuntimeDirectory. */
export const DEFAULT_SOCKET_PATH = SYSTEM_SOCKET_PATH;

export interface SchemaLeaf {
  doc: string;
  format: string | string[];
  default: unknown;
  sensitive?: boolean;
}
export interface SchemaTree {
  [key: string]: SchemaLeaf | SchemaTree;
}

export const schema = {
  server: {
    url: {
      doc: "URL of the hub's device endpoint, e.g. wss://hub.example.com/v1/device, or of an MQTT 5 broker, e.g. mqtts://broker.example.com:8883.",
      format: Format.serverUrl,
      default: '',
    },
  },
  device: {
    id: {
      doc: "This device's id on the platform (letters, digits, . _ : -).",
      format: Format.requiredString,
      default: '',
    },
  },
  auth: {
    token: {
      doc: 'Device token sent as "Authorization: Bearer". Prefer auth.tokenFile in production.',
      format: Format.requiredString,
      default: '',
      sensitive: true,
    },
    tokenFile: {
      doc: 'File holding the device token (read at start-up; trailing white space ignored).',
      format: Format.optionalPath,
      default: '',
    },
  },
  tls: {
    ca: {
      doc: 'PEM file of the CA certificates to trust for wss:// (a private CA); when set, it replaces the system store.',
      format: Format.optionalPath,
      default: '',
    },
    cert: {
      doc: 'PEM client certificate for mutual TLS (with tls.key).',
      format: Format.optionalPath,
      default: '',
    },
    key: {
      doc: 'PEM private key for mutual TLS (with tls.cert).',
      format: Format.optionalPath,
      default: '',
      sensitive: true,
    },
  },
  heartbeat: {
    intervalMs: {
      doc: 'Quiet time after which the agent pings the hub.',
      format: Format.ms,
      default: Defaults.heartbeatIntervalMs,
    },
    timeoutMs: {
      doc: 'Extra time, after intervalMs of silence, before the link is declared dead and terminated.',
      format: Format.ms,
      default: Defaults.heartbeatTimeoutMs,
    },
  },
  reconnect: {
    initialDelayMs: {
      doc: 'First reconnect delay; doubles per failed attempt (with jitter).',
      format: Format.ms,
      default: Defaults.reconnectInitialDelayMs,
    },
    maxDelayMs: {
      doc: 'Largest reconnect delay; also the delay after the hub refused the credentials.',
      format: Format.ms,
      default: Defaults.reconnectMaxDelayMs,
    },
    dialTimeoutMs: {
      doc: "Longest time from starting a connection to the hub's welcome before it is aborted.",
      format: Format.ms,
      default: Defaults.dialTimeoutMs,
    },
  },
  mqtt: {
    sessionExpiryS: {
      doc: "mqtt:// and mqtts:// only: how long the broker keeps the agent's session (its subscription and the commands sent to it) while the agent is away; 0 ends it at every disconnect.",
      format: Format.seconds,
      default: Defaults.mqttSessionExpiryS,
    },
  },
  outbox: {
    maxMessages: {
      doc: 'Messages held in memory while the spool cannot write to disk; beyond this the oldest telemetry is dropped and counted.',
      format: Format.positiveInt,
      default: Defaults.outboxMaxMessages,
    },
    highWaterBytes: {
      doc: 'Socket bytes in flight above which the outbox stops writing and producers pause.',
      format: Format.positiveInt,
      default: Defaults.outboxHighWaterBytes,
    },
  },
  storage: {
    dir: {
      doc: 'Directory of the disk spool: every message stays here until the hub acknowledges it. Default: $STATE_DIRECTORY (systemd), else /var/lib/iottly-agent for root, else $XDG_STATE_HOME/iottly-agent/<device.id> (~/.local/state/… without XDG_STATE_HOME).',
      format: Format.requiredString,
      default: Defaults.storageDir,
    },
    maxBytes: {
      doc: 'Largest size of the spool; beyond it the oldest telemetry is dropped first (and reported).',
      format: Format.positiveInt,
      default: Defaults.storageMaxBytes,
    },
    maxAgeS: {
      doc: 'Messages older than this many seconds are dropped (and reported); 0 keeps them however old.',
      format: Format.seconds,
      default: Defaults.storageMaxAgeS,
    },
    writeBeforeSend: {
      doc: 'true: every message is written to the spool before it is sent (most flash wear; kill -9 loses nothing written). false (memory first): while the link is up messages are sent from memory and written only if still unacknowledged after spillAfterMs, or when the link goes down; kill -9 loses at most the unacknowledged messages of the last spillAfterMs.',
      format: Format.strictBoolean,
      default: false,
    },
    spillAfterMs: {
      doc: 'With writeBeforeSend=false, how long a sent message may wait for its acknowledgement in memory before it is written to the spool.',
      format: Format.ms,
      default: Defaults.storageSpillAfterMs,
    },
    flushIntervalMs: {
      doc: 'Batches of messages are written to the spool at least this far apart (and before they are sent); a message after a quiet spell is written at once.',
      format: Format.ms,
      default: Defaults.storageFlushIntervalMs,
    },
    fsync: {
      doc: 'When spool writes are forced to the medium: always (every batch), interval, or never (kernel writeback).',
      format: [...FSYNC_POLICIES],
      default: 'interval',
    },
    fsyncIntervalMs: {
      doc: 'With fsync=interval, the longest time written messages wait for an fsync.',
      format: Format.ms,
      default: Defaults.storageFsyncIntervalMs,
    },
    retryIntervalMs: {
      doc: 'While the disk refuses writes (full, read-only), how often the spool tries it again.',
      format: Format.ms,
      default: Defaults.storageRetryIntervalMs,
    },
  },
  delivery: {
    windowMessages: {
      doc: 'Messages sent and not yet acknowledged by the hub, at most; sending pauses beyond.',
      format: Format.positiveInt,
      default: Defaults.deliveryWindowMessages,
    },
  },
  local: {
    enabled: {
      doc: 'Serve the local SDK socket for device apps (the iottly SDK).',
      format: Format.strictBoolean,
      default: true,
    },
    socketPath: {
      doc: 'Unix socket for device apps; empty: $RUNTIME_DIRECTORY/sdk.sock (systemd), else /run/iottly-agent/sdk.sock for root, else $XDG_RUNTIME_DIR/iottly-agent/sdk.sock (without XDG_RUNTIME_DIR: sdk.sock in the per-user state dir, beside the spools).',
      format: Format.optionalPath,
      default: '',
    },
    socketGroup: {
      doc: "Group given the socket (mode 0660), so its members can connect; empty: the agent's group.",
      format: Format.optionalGroup,
      default: '',
    },
    maxApps: {
      doc: 'Apps connected at once; more are refused and logged.',
      format: Format.positiveInt,
      default: Defaults.localMaxApps,
    },
    maxLineBytes: {
      doc: "Longest line an app may send; a longer one closes that app's connection.",
      format: Format.positiveInt,
      default: Defaults.localMaxLineBytes,
    },
    appQueueLines: {
      doc: 'Lines held for an app that does not read; beyond this the oldest are dropped and counted.',
      format: Format.positiveInt,
      default: Defaults.localAppQueueLines,
    },
    appQueueBytes: {
      doc: "Bytes held for an app that does not read (its queue and its socket's buffer); beyond this the oldest queued lines are dropped and counted.",
      format: Format.positiveInt,
      default: Defaults.localAppQueueBytes,
    },
    totalAppQueueBytes: {
      doc: 'Bytes held for all apps together; beyond this the app holding the most drops its oldest queued lines.',
      format: Format.positiveInt,
      default: Defaults.localTotalAppQueueBytes,
    },
    actions: {
      doc: 'Routines apps may call with call_agent: {"name": "command line"}, run by /bin/sh within the commands.* limits, the call\'s args as JSON in IOTTLY_CALL_ARGS.',
      format: Format.actionMap,
      default: {} as Record<string, string>,
    },
  },
  log: {
    level: {
      doc: 'Log level: fatal, error, warn, info, debug, trace or silent.',
      format: [...LOG_LEVELS],
      default: 'info',
    },
    format: {
      doc: 'Log lines: auto (readable on a terminal, JSON lines otherwise), json or pretty.',
      format: [...LOG_FORMATS],
      default: 'auto',
    },
  },
  vitals: {
    intervalS: {
      doc: 'How often the agent logs its vitals (resident memory, V8 heap, outbox, link) at info; 0: never.',
      format: Format.seconds,
      default: Defaults.vitalsIntervalS,
    },
  },
  shutdown: {
    timeoutMs: {
      doc: 'Longest graceful shutdown on SIGTERM/SIGINT before the process exits anyway.',
      format: Format.ms,
      default: 5_000,
    },
  },
  telemetry: telemetryConfigSchema,
  commands: commandsSchema,
  shell: shellSchema,
  forward: forwardSchema,
  files: filesSchema,
  update: updateSchema,
} satisfies SchemaTree;

/** `heartbeat.intervalMs` → `IOTTLY_HEARTBEAT_INTERVAL_MS`. */
export function envName(key: string): string {
  return `IOTTLY_${key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/\./g, '_')
    .toUpperCase()}`;
}

/** `heartbeat.intervalMs` → `heartbeat-interval-ms` (used as `--heartbeat-interval-ms`). */
export function flagName(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/\./g, '-')
    .toLowerCase();
}

/** Every leaf key, as dotted paths, in schema order. */
export function leafKeys(tree: SchemaTree = schema, prefix = ''): string[] {
  const keys: string[] = [];
  for (const [name, node] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (isLeaf(node)) keys.push(key);
    else keys.push(...leafKeys(node, key));
  }
  return keys;
}

export function leafAt(key: string, tree: SchemaTree = schema): SchemaLeaf | undefined {
  let node: SchemaLeaf | SchemaTree | undefined = tree;
  for (const part of key.split('.')) {
    if (!node || isLeaf(node)) return undefined;
    node = (node as SchemaTree)[part];
  }
  return node && isLeaf(node) ? node : undefined;
}

function isLeaf(node: SchemaLeaf | SchemaTree): node is SchemaLeaf {
  return typeof (node as SchemaLeaf).doc === 'string' && 'default' in node;
}
