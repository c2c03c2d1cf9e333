import { join } from 'node:path';
import { spawnAgent, statusIs, type AgentProcess } from './agent-process.js';
import { startReceiver, type HttpReceiver } from './http-receiver.js';
import type { Owner } from './owner.js';
import { tempDir } from './temp-dir.js';
import { API_KEY, DEVICE_ID, DEVICE_TOKEN, startHub, type TestHub } from './ws.js';

/**
 * The REST Command API's tests (test/integration/hub-command-api*.test.ts): a hub with the agent
 * as a process, and a REST request that reads its JSON answer.
 */
export const EVENT_MS = 20_000;

export interface CommandWorld {
  hub: TestHub;
  agent: AgentProcess;
  /** Behind a webhook of Type iottly: every agent message, and the unwaited results. */
  iottly: HttpReceiver;
  /** The agent's SDK socket, for a local app. */
  socketPath: string;
}

/**
 * A hub with an `iottly` webhook to a loopback receiver, and the agent online on it with its SDK
 * socket listening and a policy that denies `reboot`; all stopped when `t` ends.
 */
export async function commandWorld(t: Owner): Promise<CommandWorld> {
  const dir = tempDir('iottly-command-api-', t);
  const socketPath = join(dir, 'sdk.sock');
  const iottly = await startReceiver(t);
  const hub = await startHub(t, {
    consoleDir: null,
    webhooks: [{ description: 'backend', url: `${iottly.url}/in`, type: 'iottly' }],
  });
  const agent = spawnAgent(t, ['run'], {
    IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_LOCAL_SOCKET_PATH: socketPath,
    IOTTLY_COMMANDS_DENY: '["^reboot"]',
    IOTTLY_COMMANDS_KILL_GRACE_MS: '300',
    IOTTLY_LOG_LEVEL: 'debug',
  });
  await agent.waitForLog(statusIs('online'), EVENT_MS);
  await agent.waitForLog((l) => l.msg === 'local SDK socket listening', EVENT_MS);
  return { hub, agent, iottly, socketPath };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** A REST request with the API key (or `token`); a string body is sent as given. */
export async function rest(
  hub: TestHub,
  method: string,
  path: string,
  body?: unknown,
  token = API_KEY,
): Promise<Answer> {
  const response = await fetch(`${hub.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

export const commandsOf = (device: string): string => `/v1/devices/${device}/commands`;

/** The `result` of a Command API answer. */
export const resultOf = (answer: Answer): Record<string, unknown> =>
  answer.body.result as Record<string, unknown>;

/** The `error.code` of an error answer (HTTP), or of a result's error. */
export const errorCode = (answer: Answer): unknown =>
  (answer.body.error as { code?: unknown } | undefined)?.code;

export const resultErrorCode = (answer: Answer): unknown =>
  (resultOf(answer).error as { code?: unknown } | undefined)?.code;
