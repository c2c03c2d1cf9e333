import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { AgentConfig } from '../config/load.js';
import { resolveRunAs } from '../config/run-as.js';
import { ShellFeature } from '../commands/shell/shell-feature.js';
import { procTerminal } from '../commands/shell/terminal-proc.js';
import { sttyResizeArgv } from '../commands/shell/terminal-size.js';
import { SCRIPT_PATH } from '../commands/pty.js';
import { childBaseEnv } from '../process/child-env.js';
import type { KillFunction } from '../process/process-group.js';
import { resolveProgram } from '../process/program-path.js';
import type { SpawnFunction } from '../process/runner.js';
import type { Clock } from '../time/clock.js';

/** The shell feature from validated configuration; side effects come in as dependencies. */
export interface ShellDependencies {
  clock: Clock;
  spawn: SpawnFunction;
  kill: KillFunction;
  env: Readonly<Record<string, string | undefined>>;
  uid: number;
}

/** Where `stty` is when the agent's PATH does not say (coreutils on every distribution). */
const DEFAULT_STTY = '/bin/stty';

export function createShellFeature(config: AgentConfig, deps: ShellDependencies): ShellFeature {
  const commands = config.commands;
  const runAs = resolveRunAs(commands.user, commands.group, { currentUid: deps.uid });
  const baseEnv = childBaseEnv(deps.env);
  const own = runAs === null ? ownAccount() : null;
  const sttyPath = resolveProgram('stty', baseEnv.PATH) ?? DEFAULT_STTY;
  const home = runAs ? runAs.home : own?.home;
  return new ShellFeature({
    settings: config.shell,
    policy: commands,
    killGraceMs: commands.killGraceMs,
    shutdownGraceMs: Math.min(commands.killGraceMs, Math.floor(config.shutdown.timeoutMs / 2)),
    runAs,
    loginShell: (runAs ? runAs.shell : own?.shell) ?? '',
    home: home !== undefined && isDirectory(home) ? home : undefined,
    baseEnv,
    terminal: {
      clock: deps.clock,
      spawn: deps.spawn,
      kill: deps.kill,
      proc: procTerminal(),
      scriptPath: SCRIPT_PATH,
      sttyPath,
      setSize: (tty, size) =>
        new Promise((resolve, reject) => {
          const [file, ...args] = sttyResizeArgv(sttyPath, tty, size);
          execFile(file as string, args, { timeout: 5_000 }, (err) =>
            err ? reject(err) : resolve(),
          );
        }),
    },
  });
}

/** The agent's own account (its passwd entry), when commands run as the agent's user. */
function ownAccount(): { shell?: string; home?: string } {
  try {
    const info = userInfo();
    return { shell: info.shell ?? undefined, home: info.homedir };
  } catch {
    return {};
  }
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}
