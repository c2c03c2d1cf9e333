import type { AgentConfig } from '../config/load.js';
import { CommandsFeature } from '../commands/commands-feature.js';
import { childBaseEnv } from '../process/child-env.js';
import { resolveRunAs } from '../config/run-as.js';
import type { CommandRunner } from '../process/runner.js';

/** The commands feature from validated configuration; side effects come in as dependencies. */
export interface CommandsDependencies {
  runner: CommandRunner;
  /** The agent's environment; commands start from it without its IOTTLY_* keys. */
  env: Readonly<Record<string, string | undefined>>;
  /** The agent's uid (switching to commands.user needs root). */
  uid: number;
}

export function createCommandsFeature(
  config: AgentConfig,
  deps: CommandsDependencies,
): CommandsFeature {
  const settings = config.commands;
  const runAs = resolveRunAs(settings.user, settings.group, {
    currentUid: deps.uid,
  });
  return new CommandsFeature({
    settings,
    runner: deps.runner,
    runAs,
    baseEnv: childBaseEnv(deps.env),
    // Half the shutdown budget at most, so SIGKILL lands before the process gives up waiting.
    shutdownGraceMs: Math.min(settings.killGraceMs, Math.floor(config.shutdown.timeoutMs / 2)),
  });
}
