import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { createCommandsFeature } from '../commands/create-commands.js';
import type { AgentConfig } from '../config/load.js';
import type { RunSecrets } from '../config/resolve.js';
import { createLocalApps } from '../local/create-local-apps.js';
import type { FsyncPolicy } from '../storage/fsync-policy.js';
import { nodeSpoolFs, type SpoolFs } from '../storage/spool-fs.js';
import { TelemetryFeature } from '../telemetry/telemetry-feature.js';
import { systemClock, type Clock } from '../time/clock.js';
import { AGENT_VERSION } from '../version.js';
import { Agent, type Feature } from './agent.js';
import type { RandomSource } from './backoff.js';
import { createWebSocket, type SocketFactory } from './connection.js';
import type { Inventory } from './inventory.js';
import { VitalsFeature } from './vitals.js';

/** Builds an Agent from validated configuration; the side effects come in as dependencies. */
export interface AgentDependencies {
  logger: Logger;
  inventory: Inventory;
  clock?: Clock;
  random?: RandomSource;
  createSocket?: SocketFactory;
  features?: Feature[];
  /** The process environment (for systemd's RUNTIME_DIRECTORY). */
  env?: Record<string, string | undefined>;
  /** The spool's file operations (tests inject disk faults here). */
  spoolFs?: SpoolFs;
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
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const localApps = createLocalApps(config, { env: deps.env ?? process.env, clock });
  const features: Feature[] = [
    new TelemetryFeature({ settings: config.telemetry, clock, random }),
    createCommandsFeature(config, { clock }),
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
    ...(deps.features ?? []),
  ];
  return new Agent(
    {
      deviceId: config.device.id,
      serverUrl: config.server.url,
      token: secrets.token,
      tls: secrets.tls,
      heartbeat: config.heartbeat,
      backoff: {
        initialDelayMs: config.reconnect.initialDelayMs,
        maxDelayMs: config.reconnect.maxDelayMs,
      },
      dialTimeoutMs: config.reconnect.dialTimeoutMs,
      closeTimeoutMs: Math.min(2_000, config.shutdown.timeoutMs),
      outbox: config.outbox,
      storage: {
        ...config.storage,
        fsync: config.storage.fsync as FsyncPolicy, // convict checked it against the list
        fs: deps.spoolFs ?? nodeSpoolFs,
        newStoreId,
      },
      delivery: config.delivery,
      version: AGENT_VERSION,
      inventory: deps.inventory,
      clock,
      random,
      createSocket: deps.createSocket ?? createWebSocket,
      logger: deps.logger,
    },
    features,
  );
}
