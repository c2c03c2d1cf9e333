#!/usr/bin/env node
/**
 * Entry point: parses the command line, wires objects, installs signal handlers and maps
 * failures to exit codes. Nothing else lives here.
 */
import { readFileSync, statSync } from 'node:fs';
import { createAgent } from './agent/create-agent.js';
import { readInventory } from './agent/inventory.js';
import { parseAgentArgs } from './cli/agent-args.js';
import { runPublish } from './cli/publish.js';
import { ExitCode } from './cli/exit-codes.js';
import { onShutdownSignal } from './cli/signals.js';
import { UsageError } from './cli/usage-error.js';
import { ConfigError, loadConfig, type LoadedConfig } from './config/load.js';
import { checkSecretFilePermissions } from './config/permissions.js';
import { resolveRunSecrets } from './config/resolve.js';
import { runDemo } from './demo/demo.js';
import { parseHubArgs } from './hub/hub-args.js';
import { runHub } from './hub/run-hub.js';
import { SpoolLockedError, lockSpoolDir } from './storage/spool-lock.js';
import { createLogger } from './log/logger.js';
import { DEFAULT_LIVENESS_GRACE_MS } from './systemd/connection-liveness.js';
import { takeNotifyEnvironment } from './systemd/notify-environment.js';
import { ServiceNotifier } from './systemd/service-notifier.js';
import { systemClock } from './time/clock.js';
import { AGENT_VERSION } from './version.js';

const USAGE = `usage: iottly-agent <command> [options]

commands:
  run            connect to the hub and serve this device (config: --config PATH, IOTTLY_* env, flags)
                 --allow-insecure-config-permissions: start even if every user can read the token
  check-config   print the effective configuration (secrets redacted); exit 0, or 78 if invalid
  hub            run the reference hub (--host, --port, --api-key, --device-token ID=TOKEN, …)
  publish        send JSON to the cloud through the running agent: [--channel C] [--app NAME] ['<json>'] (or stdin)
  demo           a hub and an agent on loopback, with readable logs (what \`npm start\` runs)
  version        print the agent version

Every configuration key is also a flag: server.url → --server-url, heartbeat.intervalMs →
--heartbeat-interval-ms. See README.md for keys, environment variables and exit codes.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return run(rest);
    case 'check-config':
      return checkConfig(rest);
    case 'hub':
      return hub(rest);
    case 'publish':
      return runPublish(rest, {
        env: process.env,
        stdin: process.stdin,
        stderr: process.stderr,
        readFile: (path) => readFileSync(path, 'utf8'),
      });
    case 'demo':
      return runDemo({ stopSignal: onShutdownSignal() });
    case 'version':
    case '--version':
      process.stdout.write(`${AGENT_VERSION}\n`);
      return ExitCode.ok;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return ExitCode.ok;
    default:
      throw new UsageError(command ? `unknown command "${command}"` : 'a command is required');
  }
}

function loadFromArgs(argv: string[]): LoadedConfig {
  const args = parseAgentArgs(argv);
  const loaded = loadConfig({
    configPath: args.configPath,
    env: process.env,
    flags: args.flags,
    readFile: (path) => readFileSync(path, 'utf8'),
  });
  if (!args.allowInsecureConfigPermissions)
    checkSecretFilePermissions(loaded, (path) => statSync(path).mode);
  return loaded;
}

async function run(argv: string[]): Promise<number> {
  const loaded = loadFromArgs(argv);
  const secrets = resolveRunSecrets(loaded, (path) => readFileSync(path));
  const logger = createLogger({ level: loaded.config.log.level });
  logger.info(
    { version: AGENT_VERSION, config: loaded.filePath ?? '(defaults, env, flags)' },
    'iottly-agent starting',
  );
  const spoolLock = await lockSpoolDir(loaded.config.storage.dir, { logger }).catch(
    (err: unknown) => {
      if (err instanceof SpoolLockedError)
        logger.error({ code: err.code, dir: err.dir, holderPid: err.holderPid }, err.message);
      throw err;
    },
  );
  const stopSignal = onShutdownSignal();
  const systemd = new ServiceNotifier({
    environment: takeNotifyEnvironment(process.env, process.pid),
    clock: systemClock,
    logger,
    liveness: {
      dialTimeoutMs: loaded.config.reconnect.dialTimeoutMs,
      graceMs: DEFAULT_LIVENESS_GRACE_MS,
    },
    path: process.env.PATH ?? '/usr/bin:/bin',
  });
  const agent = createAgent(loaded.config, secrets, { logger, inventory: await readInventory() });
  await agent.start();
  systemd.ready(agent.context);
  const signal = await stopSignal;
  logger.info({ signal }, 'shutting down');
  const deadline = systemClock.setTimeout(() => {
    logger.error(
      { timeoutMs: loaded.config.shutdown.timeoutMs },
      'shutdown took too long; exiting anyway',
    );
    process.exit(ExitCode.ok);
  }, loaded.config.shutdown.timeoutMs);
  await systemd.stopping();
  await agent.stop();
  await spoolLock.release();
  systemClock.clearTimeout(deadline);
  logger.info('stopped');
  return ExitCode.ok;
}

async function checkConfig(argv: string[]): Promise<number> {
  const loaded = loadFromArgs(argv);
  resolveRunSecrets(loaded, (path) => readFileSync(path));
  process.stdout.write(`${JSON.stringify(loaded.redacted(), null, 2)}\n`);
  return ExitCode.ok;
}

async function hub(argv: string[]): Promise<number> {
  const options = parseHubArgs(argv);
  const logger = createLogger({ level: options.logLevel, name: 'hub' });
  const running = await runHub(options, {
    logger,
    clock: systemClock,
    readFile: (path: string) => readFileSync(path),
    stdout: process.stdout,
  });
  await running.done; // runHub stops on SIGTERM/SIGINT
  return ExitCode.ok;
}

function fail(err: unknown): number {
  if (err instanceof UsageError || (err as { code?: string })?.code === 'usage') {
    process.stderr.write(`iottly-agent: ${(err as Error).message}\n\n${USAGE}\n`);
    return ExitCode.usage;
  }
  if (err instanceof ConfigError) {
    for (const problem of err.problems)
      process.stderr.write(`iottly-agent: config error: ${problem}\n`);
    return ExitCode.config;
  }
  if (err instanceof SpoolLockedError) {
    process.stderr.write(`iottly-agent: ${err.message}\n`);
    return ExitCode.tempFail;
  }
  process.stderr.write(`iottly-agent: fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  return ExitCode.software;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => process.exit(fail(err)),
);
