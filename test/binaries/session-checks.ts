import assert from 'node:assert/strict';
import type { AgentProcess } from '../helpers/agent-process.js';
import { statusIs } from '../helpers/agent-process.js';
import { connect, type Peer } from '../helpers/ws.js';

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

/** A platform client on the hub's /v1/stream, closed when the check ends. */
async function withClient<T>(
  context: SessionContext,
  use: (client: Peer) => Promise<T>,
): Promise<T> {
  const wsUrl = context.hubUrl.replace(/^http/, 'ws');
  const client = await connect(`${wsUrl}/v1/stream?api_key=${context.apiKey}`);
  try {
    return await use(client);
  } finally {
    client.ws.close();
  }
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
  {
    name: 'streams cpu telemetry to a subscribed client',
    run: (context) =>
      withClient(context, async (client) => {
        client.send({
          type: 'subscribe',
          request_id: 'sub-bin',
          payload: { device_id: context.deviceId, streams: ['cpu'], interval_ms: 1_000 },
        });
        const reply = await client.inbox.next((f) => f.request_id === 'sub-bin', context.timeoutMs);
        assert.equal(reply.type, 'subscribed', JSON.stringify(reply));
        const frame = await client.inbox.next(
          (f) => f.type === 'telemetry' && f.payload.stream === 'cpu',
          context.timeoutMs,
        );
        assert.equal(typeof frame.payload.value, 'number', JSON.stringify(frame));
      }),
  },
  {
    name: 'runs a command and returns its output and exit code',
    run: (context) =>
      withClient(context, async (client) => {
        client.send({
          type: 'command',
          request_id: 'cmd-bin',
          payload: { device_id: context.deviceId, command: 'echo from-the-binary; exit 3' },
        });
        const done = await client.inbox.next(
          (f) => f.request_id === 'cmd-bin' && (f.type === 'command_done' || f.type === 'error'),
          context.timeoutMs,
        );
        assert.equal(done.type, 'command_done', JSON.stringify(done));
        assert.equal(done.payload.exit_code, 3, JSON.stringify(done));
        const text = JSON.stringify(client.inbox.unread.concat([done]));
        assert.match(text, /from-the-binary/);
      }),
  },
];
