import { join } from 'node:path';
import { ConfigError, type AgentConfig } from '../config/load.js';
import { DEFAULT_SOCKET_PATH } from '../config/schema.js';
import { childBaseEnv } from '../process/child-env.js';
import { resolveRunAs } from '../config/run-as.js';
import type { CommandRunner } from '../process/runner.js';
import { CommandActionRunner } from '../local/action-runner.js';
import { LocalApps } from '../local/local-apps.js';
import { SDK_PROTOCOL_VERSION } from '../local/sdk-wire.js';
import { resolveGroup } from '../local/socket-file.js';

/**
 * The local-apps feature from validated configuration, or null when `local.enabled` is false.
 * The socket path is the configured one, else `$RUNTIME_DIRECTORY/sdk.sock` (systemd's
 * RuntimeDirectory=, first entry), else /run/iottly-agent/sdk.sock.
 */
export const SOCKET_MODE = 0o660;
export const SOCKET_FILE_NAME = 'sdk.sock';
/** How long a closing app gets to take its last lines (agentstatus: stopping). */
const APP_CLOSE_TIMEOUT_MS = 500;
/** An action's output travels in one frame (at most 1 MiB), so it is capped well below. */
const ACTION_MAX_OUTPUT_BYTES = 64 * 1024;

export interface LocalAppsDependencies {
  env: Readonly<Record<string, string | undefined>>;
  /** Reads /etc/group to resolve a group name. */
  readGroupFile: () => string;
  /** Runs the actions (the commands capability's runner). */
  runner: CommandRunner;
  /** The agent's uid (switching to commands.user needs root). */
  uid: number;
}

export function socketPathFor(configured: string, env: Record<string, string | undefined>): string {
  if (configured !== '') return configured;
  const runtime = env.RUNTIME_DIRECTORY?.split(':')[0];
  return runtime ? join(runtime, SOCKET_FILE_NAME) : DEFAULT_SOCKET_PATH;
}

export function createLocalApps(
  config: AgentConfig,
  deps: LocalAppsDependencies,
): LocalApps | null {
  const local = config.local;
  if (!local.enabled) return null;
  return new LocalApps({
    server: {
      path: socketPathFor(local.socketPath, deps.env),
      mode: SOCKET_MODE,
      gid: groupId(local.socketGroup, deps.readGroupFile),
      sdkVersion: SDK_PROTOCOL_VERSION,
      maxApps: local.maxApps,
      maxLineBytes: local.maxLineBytes,
      maxQueuedLines: local.appQueueLines,
      maxQueuedBytes: local.appQueueBytes,
      maxTotalQueuedBytes: local.totalAppQueueBytes,
      closeTimeoutMs: APP_CLOSE_TIMEOUT_MS,
    },
    actions: local.actions,
    actionRunner: commandActionRunner(config, deps),
  });
}

/** Actions run on the commands capability's runner, within its limits (the `commands` keys). */
function commandActionRunner(
  config: AgentConfig,
  deps: LocalAppsDependencies,
): CommandActionRunner {
  const { commands } = config;
  return new CommandActionRunner({
    runner: deps.runner,
    limits: {
      timeoutMs: commands.defaultTimeoutS * 1000,
      killGraceMs: commands.killGraceMs,
      maxOutputBytes: Math.min(commands.maxOutputBytes, ACTION_MAX_OUTPUT_BYTES),
      maxConcurrent: commands.maxConcurrent,
    },
    baseEnv: childBaseEnv(deps.env),
    runAs: resolveRunAs(commands.user, commands.group, {
      currentUid: deps.uid,
    }),
  });
}

function groupId(group: string, readGroupFile: () => string): number | null {
  try {
    return resolveGroup(group, readGroupFile);
  } catch (err) {
    throw new ConfigError([`local.socketGroup: ${(err as Error).message}`]);
  }
}
