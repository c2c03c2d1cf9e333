#!/usr/bin/env node
/**
 * Entry point: parses the command line, wires objects, installs signal handlers and maps
 * failures to exit codes. Nothing else lives here. What only other commands use (the hub, the
 * demo, publish, broker-config) is imported when that command runs: `run` on a small device
 * should not parse, compile and keep the hub's modules. The agent's own (agent-root, the
 * inventory) are imported by `run` alike: `exec` and `shell` are clients, and with the agent
 * loaded `exec -- cat` of 256 MiB spent twice the CPU (0.2 s more to start, and a heap big
 * enough that its output buffers brought 19 full garbage collections instead of none).
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import type { Agent } from './agent/agent.js';
import { parseAgentArgs } from './cli/agent-args.js';
import { ExitCode } from './cli/exit-codes.js';
import { exitOnFatalError } from './cli/fatal.js';
import { takeDeviceNodeOptions } from './cli/node-flags.js';
import { onShutdownSignal } from './cli/signals.js';
import { UsageError } from './cli/usage-error.js';
import { commandHelp, HELP_FLAGS, USAGE } from './cli/help.js';
import { ConfigError, type LoadedConfig } from './config/load.js';
import { checkConfigFilePermissions } from './config/permissions.js';
import type { RunSecrets } from './config/resolve.js';
import { loadRunConfig } from './config/run-config.js';
import { createLogger, prettyLogs, type LogFormat } from './log/logger.js';
import { SpoolLockedError, lockSpoolDir } from './storage/spool-lock.js';
import { DEFAULT_LIVENESS_GRACE_MS } from './systemd/connection-liveness.js';
import { takeNotifyEnvironment } from './systemd/notify-environment.js';
import { ServiceNotifier } from './systemd/service-notifier.js';
import { systemClock } from './time/clock.js';
import { AGENT_VERSION } from './version.js';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const help = command === undefined ? undefined : commandHelp(command);
  if (help !== undefined && wantsHelp(rest)) {
    process.stdout.write(`${help}\n`);
    return ExitCode.ok;
  }
  switch (command) {
    case 'run':
      return run(rest);
    case 'check-config':
      return checkConfig(rest);
    case 'hub':
      return hub(rest);
    case 'publish': {
      const { runPublish } = await import('./cli/publish.js');
      return runPublish(rest, {
        env: process.env,
        stdin: process.stdin,
        stderr: process.stderr,
        readFile: (path) => readFileSync(path, 'utf8'),
      });
    }
    case 'exec': {
      // Loaded only here: the agent's own start-up never reads it.
      const { parseExecArgs, runExec } = await import('./cli/exec.js');
      return runExec(parseExecArgs(rest, process.env), {
        stdin: process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
        onInterrupt: (listener) => {
          process.on('SIGINT', listener);
          return () => process.off('SIGINT', listener);
        },
      });
    }
    case 'broker-config': {
      const { runBrokerConfig } = await import('./cli/broker-config.js');
      return runBrokerConfig(rest, {
        readFile: (path) => readFileSync(path, 'utf8'),
        stdout: process.stdout,
        stderr: process.stderr,
      });
    }
    case 'shell':
      return shell(rest);
    case 'forward': {
      // Loaded only here: the agent's own start-up never reads it.
      const [{ parseForwardArgs }, { runForward }] = await Promise.all([
        import('./cli/forward-args.js'),
        import('./cli/forward.js'),
      ]);
      return runForward(parseForwardArgs(rest, process.env), {
        stdout: process.stdout,
        stderr: process.stderr,
        onInterrupt: (listener) => {
          process.on('SIGINT', listener);
          process.on('SIGTERM', listener);
          return () => {
            process.off('SIGINT', listener);
            process.off('SIGTERM', listener);
          };
        },
      });
    }
    case 'cp': {
      // Loaded only here: the agent's own start-up never reads it.
      const { parseCpArgs, runCp } = await import('./cli/cp.js');
      return runCp(parseCpArgs(rest, process.env), { stderr: process.stderr });
    }
    case 'keygen': {
      const { runKeygen } = await import('./cli/artifact-signing.js');
      return runKeygen(rest, { stdout: process.stdout, stderr: process.stderr });
    }
    case 'sign': {
      const { runSign } = await import('./cli/artifact-signing.js');
      return runSign(rest, {
        stdout: process.stdout,
        stderr: process.stderr,
        readFile: (path) => readFileSync(path, 'utf8'),
      });
    }
    case 'inventory': {
      // What `run` reads in a child of its own, so the agent never loads systeminformation.
      const { readSystemInventory } = await import('./agent/system-inventory.js');
      process.stdout.write(`${JSON.stringify(await readSystemInventory())}\n`);
      return ExitCode.ok;
    }
    case 'demo': {
      const { runDemo } = await import('./demo/demo.js');
      await runDemo({ stopSignal: onShutdownSignal() });
      return ExitCode.ok;
    }
    case 'version':
    case '--version':
      process.stdout.write(`${AGENT_VERSION}\n`);
      return ExitCode.ok;
    case 'help': // `help run` is `run --help`
    case '--help':
    case '-h':
      process.stdout.write(`${commandHelp(rest[0] ?? '') ?? USAGE}\n`);
      return ExitCode.ok;
    default:
      throw new UsageError(command ? `unknown command "${command}"` : 'a command is required');
  }
}

/**
 * `iottly-agent shell`: loaded only here, so that the agent's own start-up never reads it (nor
 * the terminal handling it brings).
 */
async function shell(args: string[]): Promise<number> {
  const { parseShellArgs, runShell } = await import('./cli/shell.js');
  const parsed = parseShellArgs(args, process.env);
  return runShell(parsed, {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    size: () => ({ rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 }),
    onResize: (listener) => {
      process.on('SIGWINCH', listener);
      return () => process.removeListener('SIGWINCH', listener);
    },
    term: process.env.TERM,
  });
}

/** This process is the single-executable binary (`node:sea`, where this Node has it). */
function isSingleExecutable(): boolean {
  const { getBuiltinModule } = process as { getBuiltinModule?: (id: string) => unknown };
  const sea = getBuiltinModule?.call(process, 'node:sea') as { isSea?: () => boolean } | undefined;
  return sea?.isSea?.() ?? false;
}

/** `--help` or `-h` among a command's arguments (before a `--` that ends the options). */
function wantsHelp(args: string[]): boolean {
  const options = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  return options.some((arg) => HELP_FLAGS.includes(arg));
}

/** The configuration of run and check-config: every problem in one pass, warnings on stderr. */
function loadFromArgs(argv: string[]): LoadedConfig & { secrets: RunSecrets } {
  const args = parseAgentArgs(argv);
  return loadRunConfig({
    configPath: args.configPath,
    env: process.env,
    flags: args.flags,
    readFile: (path) => readFileSync(path, 'utf8'),
    readSecretFile: (path) => readFileSync(path),
    warn: (warning) => process.stderr.write(`iottly-agent: warning: ${warning}\n`),
    ...(args.allowInsecureConfigPermissions
      ? {}
      : { check: (config) => checkConfigFilePermissions(config, (path) => statSync(path).mode) }),
  });
}

async function run(argv: string[]): Promise<number> {
  const loaded = loadFromArgs(argv);
  const { secrets } = loaded;
  const [{ createAgent, realAgentDependencies }, { readInventoryInChild, selfInvocation }] =
    await Promise.all([import('./roots/agent-root.js'), import('./cli/inventory-child.js')]);
  const logger = await createLogger({
    level: loaded.config.log.level,
    pretty: prettyLogs(loaded.config.log.format as LogFormat, process.stdout.isTTY === true),
  });
  // Read while the spool opens: the hello needs it only once the agent is built.
  const inventory = readInventoryInChild({
    ...selfInvocation(process.execPath, process.argv, isSingleExecutable()),
    spawn,
    env: process.env,
  });
  let agent: Agent | null = null;
  exitOnFatalError({ logger, abort: () => agent?.abort() ?? 0 });
  // Before any command can start: they must not inherit the unit's heap cap.
  const deviceNodeOptions = takeDeviceNodeOptions(process.env);
  logger.info(
    {
      version: AGENT_VERSION,
      config: loaded.filePath ?? '(defaults, env, flags)',
      // Whether the device's V8 limit is on (src/cli/node-flags.ts): V8 took it at start-up.
      heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 1024 / 1024),
      deviceNodeOptions,
    },
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
  // An update (or its rollback) stops the agent as a signal would, then exits for a restart.
  let restartReason: string | null = null;
  let restart: (reason: string) => void = () => {};
  const restartRequested = new Promise<string>((resolve) => {
    restart = (reason) => {
      restartReason ??= reason;
      resolve(reason);
    };
  });
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
  agent = createAgent(loaded.config, secrets, {
    ...(await realAgentDependencies(
      { logger, inventory: await inventory },
      loaded.config.server.url,
    )),
    updateHost: {
      execPath: process.execPath,
      singleExecutable: isSingleExecutable(),
      requestRestart: (reason) => restart(reason),
    },
  });
  await agent.start();
  systemd.ready(agent.context);
  const signal = await Promise.race([stopSignal, restartRequested]);
  if (restartReason === null) logger.info({ signal }, 'shutting down');
  else logger.info({ reason: restartReason }, 'restarting: stopping first');
  const exitCode = restartReason === null ? ExitCode.ok : ExitCode.restart;
  const deadline = systemClock.setTimeout(() => {
    logger.error(
      { timeoutMs: loaded.config.shutdown.timeoutMs },
      'shutdown took too long; exiting anyway',
    );
    process.exit(exitCode);
  }, loaded.config.shutdown.timeoutMs);
  await systemd.stopping();
  await agent.stop();
  await spoolLock.release();
  systemClock.clearTimeout(deadline);
  logger.info('stopped');
  return exitCode;
}

async function checkConfig(argv: string[]): Promise<number> {
  const loaded = loadFromArgs(argv);
  process.stdout.write(`${JSON.stringify(loaded.redacted(), null, 2)}\n`);
  return ExitCode.ok;
}

async function hub(argv: string[]): Promise<number> {
  const [{ parseHubArgs }, { HubListenError, runHub }, { DeviceTokensFileError }] =
    await Promise.all([
      import('./cli/hub-args.js'),
      import('./roots/hub-root.js'),
      import('./hub/device-tokens-file.js'),
    ]);
  const options = parseHubArgs(argv);
  const logger = await createLogger({
    level: options.logLevel,
    name: 'hub',
    pretty: prettyLogs(options.logFormat, process.stdout.isTTY === true),
  });
  exitOnFatalError({ logger, abort: () => 0 }); // the hub runs no commands
  let running;
  try {
    running = await runHub(options, {
      logger,
      clock: systemClock,
      readFile: (path: string) => readFileSync(path),
      banner: process.stderr,
    });
  } catch (err) {
    if (err instanceof DeviceTokensFileError) {
      // A configuration the hub cannot start with: restarting cannot help (as the agent's 78).
      process.stderr.write(`iottly-agent: hub: --device-tokens ${err.message}\n`);
      return ExitCode.config;
    }
    if (!(err instanceof HubListenError)) throw err;
    process.stderr.write(`iottly-agent: ${err.message}\n`);
    return ExitCode.unavailable;
  }
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
