import { spawn as nodeSpawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Agent, type Feature } from '../agent/agent.js';
import { Connection, type SocketFactory } from '../agent/connection.js';
import type { Inventory } from '../agent/inventory.js';
import type { Link } from '../agent/link.js';
import type { MqttClientFactory, MqttLinkOptions } from '../agent/mqtt-link.js';
import { VitalsFeature } from '../agent/vitals.js';
import { isMqttUrl, type AgentConfig } from '../config/load.js';
import type { RunSecrets } from '../config/resolve.js';
import { childBaseEnv } from '../process/child-env.js';
import { killProcess, type KillFunction } from '../process/process-group.js';
import { CommandRunner, type SpawnFunction } from '../process/runner.js';
import type { FsyncPolicy } from '../storage/fsync-policy.js';
import { nodeSpoolFs, type SpoolFs } from '../storage/spool-fs.js';
import { openSpoolOutbox, type SpoolOutbox } from '../storage/spool-outbox.js';
import { TelemetryFeature } from '../telemetry/telemetry-feature.js';
import type { RandomSource } from '../time/backoff.js';
import { systemClock, type Clock } from '../time/clock.js';
import { AGENT_VERSION } from '../version.js';
import { createCommandsFeature } from './commands-wiring.js';
import { createShellFeature } from './shell-wiring.js';
import { createForwardFeature } from './forward-wiring.js';
import { createFilesFeature } from './files-wiring.js';
import { createLocalApps } from './local-apps-wiring.js';
import { createUpdateFeature, type UpdateHost } from './update-wiring.js';

/**
 * Builds an Agent from validated configuration. Every side effect comes in as a dependency and
 * goes down from here to the features that use it; `realAgentDependencies` is the one place
 * that names the real ones.
 */
export interface AgentDependencies {
  logger: Logger;
  inventory: Inventory;
  clock: Clock;
  random: RandomSource;
  createSocket: SocketFactory;
  /** Makes the MQTT client of an mqtt:// or mqtts:// `server.url`. */
  createMqttClient: MqttClientFactory;
  /** Makes the MQTT link of such a `server.url` (the MQTT code is loaded only for one). */
  createMqttLink: (options: MqttLinkOptions) => Link;
  /** The process environment: commands' and command streams' base, systemd's RUNTIME_DIRECTORY. */
  env: Readonly<Record<string, string | undefined>>;
  /** Starts commands, actions and command streams (each in a process group of its own). */
  spawn: SpawnFunction;
  /** Signals their process groups. */
  kill: KillFunction;
  /** The agent's uid: running commands as `commands.user` needs root. */
  uid: number;
  /** Reads /etc/group (the SDK socket's `local.socketGroup`). */
  readGroupFile: () => string;
  /** The spool's file operations (tests inject disk faults here). */
  spoolFs: SpoolFs;
  features?: Feature[];
  /** The process the agent runs in, for updates (absent: updates are refused). */
  updateHost?: UpdateHost;
}

/**
 * This process and this machine: what the agent runs with outside tests. Only the transport that
 * `serverUrl` names is loaded: an agent on an MQTT broker never loads ws, and one on a hub never
 * loads the MQTT client.
 */
export async function realAgentDependencies(
  given: Pick<AgentDependencies, 'logger' | 'inventory'>,
  serverUrl: string,
): Promise<AgentDependencies> {
  const mqtt = isMqttUrl(new URL(serverUrl)) ? await import('../agent/mqtt-link.js') : null;
  const createSocket: SocketFactory = mqtt
    ? () => {
        throw new Error(`server.url ${serverUrl} is MQTT: this agent dials no WebSocket`);
      }
    : (await import('../agent/web-socket.js')).createWebSocket;
  const notMqtt = (): never => {
    throw new Error(`server.url ${serverUrl} is not MQTT: this agent dials no broker`);
  };
  return {
    ...given,
    clock: systemClock,
    random: Math.random,
    createSocket,
    createMqttClient: mqtt?.createMqttClient ?? notMqtt,
    createMqttLink: mqtt ? (options) => new mqtt.MqttLink(options) : notMqtt,
    env: process.env,
    spawn: nodeSpawn,
    kill: killProcess,
    uid: process.getuid?.() ?? 0,
    readGroupFile: () => readFileSync('/etc/group', 'utf8'),
    spoolFs: nodeSpoolFs,
  };
}

/** A new spool identity: 96 random bits, URL-safe. */
export function newStoreId(): string {
  return randomBytes(12).toString('base64url');
}

export function createAgent(
  config: AgentConfig,
  secrets: RunSecrets,
  deps: AgentDependencies,
): Agent {
  const { clock, random, env, uid } = deps;
  // One runner for commands, local apps' actions and command streams: the same limits and the
  // same kill ladder for every process the agent starts.
  const runner = new CommandRunner({ clock, spawn: deps.spawn, kill: deps.kill });
  const localApps = createLocalApps(config, {
    env,
    uid,
    readGroupFile: deps.readGroupFile,
    runner,
  });
  const features: Feature[] = [
    new TelemetryFeature({
      settings: config.telemetry,
      clock,
      random,
      runner,
      // Vendor tools run as command streams see no IOTTLY_* setting (the token), as commands do.
      env: childBaseEnv(env),
    }),
    createCommandsFeature(config, { runner, env, uid }),
    createShellFeature(config, { clock, spawn: deps.spawn, kill: deps.kill, env, uid }),
    createForwardFeature(config),
    createFilesFeature(config, { uid }),
    ...(localApps ? [localApps] : []),
    ...(config.vitals.intervalS > 0
      ? [
          new VitalsFeature({
            intervalMs: config.vitals.intervalS * 1000,
            clock,
            figures: localApps ? { localApps: () => localApps.queueStats() } : {},
          }),
        ]
      : []),
    createUpdateFeature(config, {
      clock,
      version: AGENT_VERSION,
      arch: process.arch,
      host: deps.updateHost,
    }),
    ...(deps.features ?? []),
  ];
  const outbox = spoolOutbox(config, deps.logger, clock, deps.spoolFs);
  const link = createLink(config, secrets, deps);
  return new Agent(
    {
      deviceId: config.device.id,
      version: AGENT_VERSION,
      inventory: deps.inventory,
      outbox,
      link,
      clock,
      logger: deps.logger,
    },
    features,
  );
}

/** The link `server.url`'s scheme asks for: WebSocket to a hub, or MQTT 5 to a broker. */
function createLink(config: AgentConfig, secrets: RunSecrets, deps: AgentDependencies): Link {
  const common = {
    url: config.server.url,
    deviceId: config.device.id,
    token: secrets.token,
    tls: secrets.tls,
    heartbeat: config.heartbeat,
    backoff: {
      initialDelayMs: config.reconnect.initialDelayMs,
      maxDelayMs: config.reconnect.maxDelayMs,
    },
    dialTimeoutMs: config.reconnect.dialTimeoutMs,
    closeTimeoutMs: Math.min(2_000, config.shutdown.timeoutMs),
    clock: deps.clock,
    random: deps.random,
    logger: deps.logger,
  };
  if (isMqttUrl(new URL(config.server.url))) {
    return deps.createMqttLink({
      ...common,
      sessionExpiryS: config.mqtt.sessionExpiryS,
      createMqttClient: deps.createMqttClient,
    });
  }
  return new Connection({
    ...common,
    userAgent: `iottly-agent/${AGENT_VERSION}`,
    createSocket: deps.createSocket,
    afterTurn: (run) => setImmediate(run),
  });
}

/** Memory the spool may use for messages while the disk refuses writes. */
const MEMORY_SPOOL_MAX_BYTES = 16 * 1024 * 1024;
/**
 * Memory first: unwritten messages past this many bytes are written at once. A quarter of the
 * memory bound, so a fast command's output is written long before anything would be dropped.
 */
const SPILL_AT_BYTES = 4 * 1024 * 1024;

/** Acknowledged delivery from the disk spool; the spool opens when the agent starts. */
function spoolOutbox(config: AgentConfig, logger: Logger, clock: Clock, fs: SpoolFs): SpoolOutbox {
  const { storage } = config;
  const memoryMaxBytes = Math.min(storage.maxBytes, MEMORY_SPOOL_MAX_BYTES);
  return openSpoolOutbox(
    {
      dir: storage.dir,
      deviceId: config.device.id,
      maxBytes: storage.maxBytes,
      maxAgeMs: storage.maxAgeS * 1000,
      flushIntervalMs: storage.flushIntervalMs,
      fsync: storage.fsync as FsyncPolicy, // convict checked it against the list
      fsyncIntervalMs: storage.fsyncIntervalMs,
      retryIntervalMs: storage.retryIntervalMs,
      memoryMaxMessages: config.outbox.maxMessages,
      memoryMaxBytes,
      writeBeforeSend: storage.writeBeforeSend,
      spillAfterMs: storage.spillAfterMs,
      spillAtBytes: Math.min(SPILL_AT_BYTES, Math.floor(memoryMaxBytes / 4)),
      fs,
      clock,
      logger,
      newStoreId,
      afterTurn: (run) => setImmediate(run),
    },
    {
      windowMessages: config.delivery.windowMessages,
      highWaterBytes: config.outbox.highWaterBytes,
      logger,
    },
  );
}
