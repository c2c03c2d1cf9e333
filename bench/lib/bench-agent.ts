import {
  CLI_PATH,
  spawnAgentCommand,
  type AgentProcess,
} from '../../test/helpers/agent-process.js';
import { STOPPED_BY_CALLER } from '../../test/helpers/owner.js';
import { DEVICE_ID, DEVICE_TOKEN } from '../../test/helpers/ws.js';
import type { HubProcess } from './hub-process.js';

/**
 * The agent a byte bench measures: a process of its own on `hub`'s device endpoint, no
 * telemetry, with the feature under test turned on by `env`. BENCH_AGENT_PROFILE_DIR writes a
 * V8 CPU profile of it (a `.cpuprofile` at its exit): Node 20 refuses `--cpu-prof` in
 * NODE_OPTIONS, so it goes on the command line. The caller stops it.
 */
export function spawnBenchAgent(hub: HubProcess, env: Record<string, string>): AgentProcess {
  const profileDir = process.env.BENCH_AGENT_PROFILE_DIR;
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  return spawnAgentCommand(STOPPED_BY_CALLER, process.execPath, [...profile, CLI_PATH, 'run'], {
    IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_LOG_LEVEL: 'info',
    IOTTLY_TELEMETRY_STREAMS: '[]',
    ...env,
  });
}
