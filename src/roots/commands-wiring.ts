import type { AgentConfig } from '../config/load.js';
import type { Clock } from '../time/clock.js';
import { CommandsFeature, commandBaseEnv } from '../commands/commands-feature.js';
import { resolveRunAs } from '../config/run-as.js';
import { CommandRunner, type SpawnFunction } from '../process/runner.js';

/** The commands feature from validated configuration; side effects come in as dependencies. */
export interface CommandsDependencies {
  clock: Clock;
  env?: NodeJS.ProcessEnv;
  currentUid?: number;
  spawn?: SpawnFunction;
}

export function createCommandsFeature(
  config: AgentConfig,
  deps: CommandsDependencies,
): CommandsFeature {
  const settings = config.commands;
  const runAs = resolveRunAs(settings.user, settings.group, {
    currentUid: deps.currentUid ?? process.getuid?.() ?? 0,
  });
  return new CommandsFeature({
    settings,
    runner: new CommandRunner({ clock: deps.clock, ...(deps.spawn ? { spawn: deps.spawn } : {}) }),
    runAs,
    baseEnv: commandBaseEnv(deps.env ?? process.env),
    // Half the shutdown budget at most, so SIGKILL lands before the process gives up waiting.
    shutdownGraceMs: Math.min(settings.killGraceMs, Math.floor(config.shutdown.timeoutMs / 2)),
  });
}
