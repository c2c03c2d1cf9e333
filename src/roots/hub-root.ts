import type { Logger } from 'pino';
import { CodedError } from '../protocol/coded-error.js';
import type { Clock } from '../time/clock.js';
import type { LogFormat } from '../log/logger.js';
import { Hub } from '../hub/hub.js';
import { parsePublicKey } from '../protocol/update-signature.js';
import type { IdSource } from '../hub/ids.js';
import type { CreateMqttClient } from '../hub/fleet/fleet-connection.js';
import type { FleetSettings } from '../hub/fleet/fleet-settings.js';
import { parseWebhooksFile } from '../hub/webhooks/webhooks-file.js';
import { LogCode } from '../log/log-codes.js';
import type { FileSource } from '../hub/file-source.js';
import { embeddedConsole } from './embedded-console.js';
import { DeviceTokensSource, type ReadBounded } from './device-tokens-source.js';

/**
 * Runs the hub for `iottly-agent hub`: reads the TLS files, starts listening, prints where (to
 * `banner`: stderr, so stdout holds log lines only), and stops on SIGTERM or SIGINT. Exit codes
 * stay with the CLI: `done` resolves once the hub has stopped, for whatever reason, and the
 * caller exits 0. A port or address it cannot listen on is a HubListenError (one line, exit 69).
 */
/** What `iottly-agent hub` runs with (parsed from its flags by src/cli/hub-args.ts). */
export interface HubRunOptions {
  host: string;
  port: number;
  apiKeys: string[];
  /** No --api-key was given: `apiKeys` holds one generated key, which the CLI prints. */
  apiKeyGenerated: boolean;
  deviceTokens: Map<string, string>;
  /** `--device-tokens FILE` (read at start and on SIGHUP), or null. */
  deviceTokensPath: string | null;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  sessionTtlMs: number;
  tls: { certPath: string; keyPath: string } | null;
  /** `--webhooks FILE`, or null. */
  webhooksPath: string | null;
  logLevel: string;
  logFormat: LogFormat;
  /** Delivery cursors survive restarts here; null: memory only. */
  stateDir: string | null;
  maxSubscriptionsPerClient: number;
  /** `--artifacts DIR`; null: the hub's default (`<stateDir>/artifacts`, or none). */
  artifactsDir: string | null;
  artifactMaxBytes: number;
  updateConcurrency: number;
  /** `--update-key`: ed25519 public keys an upload must be signed by (empty: any). */
  updateKeys: string[];
  /** `--broker …`: serve the fleet of an MQTT broker; null: devices on `/v1/device`. */
  broker: HubBrokerOptions | null;
}

export interface HubBrokerOptions {
  url: string;
  username: string | null;
  /** A file holding the password (its trailing newline is not part of it). */
  passwordPath: string | null;
  caPath: string | null;
}

export interface SignalSource {
  once(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  off(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
}

/** Where SIGHUP comes from: it reloads `--device-tokens FILE`. */
export interface HangupSource {
  on(signal: 'SIGHUP', listener: () => void): unknown;
  off(signal: 'SIGHUP', listener: () => void): unknown;
}

export interface RunHubDependencies {
  logger: Logger;
  clock: Clock;
  readFile: (path: string) => Buffer;
  /** Where the hub says where it listens and the generated API key (stderr in the CLI). */
  banner: { write(text: string): unknown };
  /** Where SIGTERM/SIGINT come from (default: this process). */
  signals?: SignalSource;
  /** Where SIGHUP comes from (default: this process); listened to only with --device-tokens. */
  hangups?: HangupSource;
  /** How `--device-tokens FILE` is read (default: at most its size bound, from disk). */
  readBounded?: ReadBounded;
  ids?: IdSource;
  /** How the hub's MQTT client is made (with `--broker`; MQTT.js's `connect` by default). */
  createMqttClient?: CreateMqttClient;
  /** This hub's instance id on the broker (default: a new random one). */
  hubId?: string;
  /** The console inside a single-executable binary (default: this process's, if it is one). */
  consoleFiles?: FileSource | null;
}

export interface RunningHub {
  hub: Hub;
  /** `http://host:port` (https with TLS). */
  url: string;
  port: number;
  /** Stops the hub (idempotent; a signal does the same). */
  stop(): Promise<void>;
  /** Resolves once the hub has stopped. */
  done: Promise<void>;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export async function runHub(
  options: HubRunOptions,
  deps: RunHubDependencies,
): Promise<RunningHub> {
  const { logger, clock, banner } = deps;
  const signals = deps.signals ?? process;
  const tls = options.tls
    ? {
        cert: read(deps, '--tls-cert', options.tls.certPath),
        key: read(deps, '--tls-key', options.tls.keyPath),
      }
    : undefined;
  const webhooks = options.webhooksPath
    ? webhooksFrom(read(deps, '--webhooks', options.webhooksPath), options.webhooksPath)
    : [];
  const fleet = options.broker ? fleetSettings(options.broker, deps) : undefined;
  // A bad file stops the start here (DeviceTokensFileError: the CLI exits 78), before listening.
  const tokens = new DeviceTokensSource({
    flagTokens: options.deviceTokens,
    path: options.deviceTokensPath,
    ...(deps.readBounded ? { read: deps.readBounded } : {}),
  });
  const loadStarted = clock.now();
  const credentials = tokens.load();
  if (tokens.path !== null) {
    const ms = Math.round(clock.now() - loadStarted);
    logger.info(
      { devices: credentials.size, ms },
      `device tokens read from ${tokens.path}: ${credentials.size} devices in ${ms} ms`,
    );
  }
  const consoleFiles = deps.consoleFiles === undefined ? embeddedConsole() : deps.consoleFiles;
  const hub = new Hub({
    host: options.host,
    port: options.port,
    apiKeys: options.apiKeys,
    deviceTokens: credentials,
    pingIntervalMs: options.pingIntervalMs,
    pongTimeoutMs: options.pongTimeoutMs,
    sessionTtlMs: options.sessionTtlMs,
    maxSubscriptionsPerClient: options.maxSubscriptionsPerClient,
    artifactMaxBytes: options.artifactMaxBytes,
    updateConcurrency: options.updateConcurrency,
    updateKeys: options.updateKeys.map(parsePublicKey),
    ...(options.artifactsDir !== null ? { artifactsDir: options.artifactsDir } : {}),
    webhooks,
    logger,
    clock,
    ...(tls ? { tls } : {}),
    ...(options.stateDir !== null ? { stateDir: options.stateDir } : {}),
    ...(deps.ids ? { ids: deps.ids } : {}),
    ...(fleet ? { fleet } : {}),
    ...(consoleFiles ? { consoleFiles } : {}),
  });
  // Signals are taken before the hub starts and before the banner says it is ready: a SIGTERM
  // sent the moment the banner appears (or during start) stops it gracefully, never by default
  // action.
  const starting = hub.start();
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let stopping: Promise<void> | null = null;
  const hangups = deps.hangups ?? process;
  const onHangup = (): void => reloadDeviceTokens(hub, tokens, logger, clock);
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const signal of SIGNALS) signals.off(signal, onSignal);
      if (tokens.path !== null) hangups.off('SIGHUP', onHangup);
      try {
        await starting.catch(() => {}); // a failed start is reported by the caller's await
        await hub.stop();
      } finally {
        resolveDone();
      }
    })();
    return stopping;
  };
  const onSignal = (): void => {
    logger.info('signal received: stopping the hub');
    void stop();
  };
  for (const signal of SIGNALS) signals.once(signal, onSignal);
  if (tokens.path !== null) hangups.on('SIGHUP', onHangup);

  const { url, port } = await starting.catch(async (err: unknown) => {
    await stop();
    throw listenError(err, options) ?? err;
  });

  const ws = url.replace(/^http/, 'ws');
  const devices = hub.fleet ? `${options.broker?.url} as ${hub.fleet.hubId}` : `${ws}/v1/device`;
  banner.write(`iottly hub listening on ${url} (devices: ${devices}, stream: ${ws}/v1/stream)\n`);
  if (hub.consoleAvailable) banner.write(`console: ${url}/ (sign in with the API key)\n`);
  if (options.apiKeyGenerated) {
    banner.write(`api key (generated; choose one with --api-key): ${options.apiKeys[0] ?? ''}\n`);
  }

  return { hub, url, port, stop, done };
}

/**
 * SIGHUP: reads `--device-tokens` again and swaps the set whole, logging what changed; a file
 * that cannot be read or has a bad line is logged and the devices the hub had are kept.
 */
function reloadDeviceTokens(
  hub: Hub,
  tokens: DeviceTokensSource,
  logger: Logger,
  clock: Clock,
): void {
  const started = clock.now();
  let next;
  try {
    next = tokens.load();
  } catch (err) {
    logger.error(
      { code: LogCode.deviceTokensInvalid, devices: hub.credentialCount },
      `device tokens not reloaded, keeping the ${hub.credentialCount} devices the hub had: ${(err as Error).message}`,
    );
    return;
  }
  const change = hub.replaceDeviceCredentials(next);
  logger.info(
    {
      code: LogCode.deviceTokensReloaded,
      added: change.added.length,
      removed: change.removed.length,
      changed: change.changed.length,
      devices: next.size,
      ms: Math.round(clock.now() - started),
    },
    `device tokens reloaded from ${tokens.path}: ${change.added.length} added, ${change.removed.length} removed, ${change.changed.length} changed (${next.size} devices)`,
  );
}

function fleetSettings(broker: HubBrokerOptions, deps: RunHubDependencies): FleetSettings {
  const password =
    broker.passwordPath !== null
      ? read(deps, '--broker-password-file', broker.passwordPath)
          .toString('utf8')
          .replace(/\r?\n$/, '')
      : undefined;
  return {
    url: broker.url,
    ...(broker.username !== null ? { username: broker.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(broker.caPath !== null ? { ca: read(deps, '--broker-ca', broker.caPath) } : {}),
    ...(deps.createMqttClient ? { createClient: deps.createMqttClient } : {}),
    ...(deps.hubId !== undefined ? { hubId: deps.hubId } : {}),
  };
}

function webhooksFrom(content: Buffer, path: string): ReturnType<typeof parseWebhooksFile> {
  try {
    return parseWebhooksFile(content.toString('utf8'), path);
  } catch (err) {
    throw new HubOptionError(`--webhooks: ${(err as Error).message}`, err);
  }
}

function read(deps: RunHubDependencies, flag: string, path: string): Buffer {
  try {
    return deps.readFile(path);
  } catch (err) {
    throw new HubOptionError(`${flag}: cannot read "${path}": ${(err as Error).message}`, err);
  }
}

/** A file named by a flag cannot be read or parsed: a usage error (exit 64), one line. */
export class HubOptionError extends CodedError {
  constructor(message: string, cause: unknown) {
    super('usage', message, { cause });
  }
}

/** The hub could not listen where it was told to: a one-line reason, no stack trace. */
export class HubListenError extends CodedError {
  constructor(message: string, cause: unknown) {
    super(LogCode.hubListenFailed, message, { cause });
  }
}

/** The listen failures an operator can fix (port, permission, address); others stay bugs. */
export function listenError(
  err: unknown,
  options: Pick<HubRunOptions, 'host' | 'port'>,
): HubListenError | undefined {
  const { code, syscall } = err as NodeJS.ErrnoException;
  // The hub also reads its state dir as it starts: an EACCES there is no port's fault.
  if (syscall !== 'listen') return undefined;
  const where = `port ${options.port} on ${options.host}`;
  switch (code) {
    case 'EADDRINUSE':
      return new HubListenError(`hub: ${where} is in use (EADDRINUSE)`, err);
    case 'EACCES':
      return new HubListenError(
        `hub: ${where} is not permitted (EACCES): ports below 1024 need root; choose another --port`,
        err,
      );
    case 'EADDRNOTAVAIL':
      return new HubListenError(
        `hub: ${options.host} is not an address of this machine (EADDRNOTAVAIL); choose another --host`,
        err,
      );
    default:
      return undefined;
  }
}
