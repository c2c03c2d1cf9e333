import assert from 'node:assert/strict';
import type { AgentProcess } from '../helpers/agent-process.js';
import { statusIs } from '../helpers/agent-process.js';

/**
 * What a single-executable agent must do against a live hub, in order. Each feature that lands
 * (telemetry, commands, local apps) appends its round trip here, so every binary on every
 * architecture proves it works inside the SEA, not only from dist/cli.js.
 */
export interface SessionContext {
  agent: AgentProcess;
  /** The hub's http:// base URL. */
  hubUrl: string;
  apiKey: string;
  deviceId: string;
  version: string;
  /** Generous: foreign binaries run under qemu. */
  timeoutMs: number;
}

export interface SessionCheck {
  name: string;
  run(context: SessionContext): Promise<void>;
}

interface DeviceSummary {
  device_id: string;
  connected: boolean;
  agent_version?: string;
}

export const SESSION_CHECKS: SessionCheck[] = [
  {
    name: 'connects and is listed as connected with its version',
    async run({ agent, hubUrl, apiKey, deviceId, version, timeoutMs }) {
      await agent.waitForLog(statusIs('online'), timeoutMs);
      const response = await fetch(`${hubUrl}/v1/devices`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      const devices = (await response.json()) as DeviceSummary[];
      const device = devices.find((d) => d.device_id === deviceId);
      assert.equal(device?.connected, true, JSON.stringify(devices));
      assert.equal(device?.agent_version, version);
    },
  },
];
