import { spawnAgent, type AgentProcess } from './agent-process.js';
import type { Owner } from './owner.js';
import { API_KEY } from './ws.js';

/**
 * `iottly-agent hub --broker URL` as a process (dist/cli.js: `npm run build` first), once it
 * listens and has learnt the fleet; stopped when `owner` (the test) ends.
 */
export interface FleetHubProcess {
  process: AgentProcess;
  /** Its instance id on the broker (random, from its `fleet learnt` log line). */
  hubId: string;
  /** http://127.0.0.1:PORT */
  url: string;
}

export async function spawnFleetHub(
  owner: Owner,
  brokerUrl: string,
  flags: string[] = [],
  timeoutMs = 20_000,
): Promise<FleetHubProcess> {
  const hub = spawnAgent(owner, [
    'hub',
    '--broker',
    brokerUrl,
    '--api-key',
    API_KEY,
    '--port',
    '0',
    '--log-format',
    'json',
    ...flags,
  ]);
  const listening = await hub.waitForLog((l) => l.msg === 'hub listening', timeoutMs);
  const learnt = await hub.waitForLog((l) => l.msg === 'fleet learnt', timeoutMs);
  return { process: hub, hubId: String(learnt.hubId), url: String(listening.url) };
}
