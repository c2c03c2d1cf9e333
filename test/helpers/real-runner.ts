import { spawn } from 'node:child_process';
import { killProcess } from '../../src/process/process-group.js';
import { CommandRunner } from '../../src/process/runner.js';
import { systemClock } from '../../src/time/clock.js';

/** A command runner on real child processes and the real clock, as the agent's root builds it. */
export function realCommandRunner(): CommandRunner {
  return new CommandRunner({ clock: systemClock, spawn, kill: killProcess });
}
