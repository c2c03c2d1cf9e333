import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { UsageError } from './usage-error.js';
import type { HubBrokerOptions, HubRunOptions } from '../roots/hub-root.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat } from '../log/logger.js';
import { DEVICE_ID_PATTERN } from '../protocol/fields.js';
import {
  DEFAULT_HOST,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_PONG_TIMEOUT_MS,
  DEFAULT_PORT,
} from '../hub/hub.js';
import { DEFAULT_MAX_SUBSCRIPTIONS_PER_CLIENT } from '../hub/broker.js';
import { DEFAULT_SESSION_TTL_MS } from '../hub/session-tokens.js';
import { DEFAULT_MAX_ARTIFACT_BYTES } from '../hub/updates/artifact-store.js';
import { isPublicKeyText } from '../protocol/update-signature.js';
import { DEFAULT_UPDATE_CONCURRENCY } from '../hub/updates/update-manager.js';

export { UsageError };

export const DEFAULT_LOG_LEVEL = 'info';

/** A fresh development API key: `ik_dev_` and 144 random bits. */
export function generateApiKey(): string {
  return `ik_dev_${randomBytes(18).toString('base64url')}`;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
/** Each subscription costs memory and fan-out; a client needing more is doing something else. */
const MAX_SUBSCRIPTIONS_PER_CLIENT = 100_000;
/** A day: a "short-lived" token that outlives that is a second API key. */
const MAX_SESSION_TTL_S = 86_400;
/** Each download holds a window of the artifact in the hub: a bound keeps the sum bounded. */
const MAX_UPDATE_CONCURRENCY = 256;

/**
 * Parses the flags of `iottly-agent hub` (listed in hub-flags.ts). Bad flags throw a UsageError
 * whose one-line message names the flag and what was expected.
 */
export function parseHubArgs(
  argv: string[],
  generateKey: () => string = generateApiKey,
): HubRunOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'api-key': { type: 'string', multiple: true },
        'device-token': { type: 'string', multiple: true },
        'device-tokens': { type: 'string' },
        'ping-interval-ms': { type: 'string' },
        'pong-timeout-ms': { type: 'string' },
        'session-ttl-s': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        webhooks: { type: 'string' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        'state-dir': { type: 'string' },
        'max-subscriptions-per-client': { type: 'string' },
        broker: { type: 'string' },
        artifacts: { type: 'string' },
        'artifact-max-bytes': { type: 'string' },
        'update-concurrency': { type: 'string' },
        'update-key': { type: 'string', multiple: true },
        'broker-username': { type: 'string' },
        'broker-password-file': { type: 'string' },
        'broker-ca': { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError(`hub: ${firstLine((err as Error).message)}`);
  }

  const host = values.host ?? DEFAULT_HOST;
  if (host.trim() === '')
    throw new UsageError('--host: expected a host name or address, got an empty string');

  const apiKeys = values['api-key'] ?? [];
  for (const key of apiKeys) {
    if (key.length === 0) throw new UsageError('--api-key: expected a non-empty key');
  }
  const apiKeyGenerated = apiKeys.length === 0;
  if (apiKeyGenerated) apiKeys.push(generateKey());

  const deviceTokens = new Map<string, string>();
  for (const entry of values['device-token'] ?? []) {
    const [deviceId, token] = splitDeviceToken(entry);
    if (deviceTokens.has(deviceId))
      throw new UsageError(`--device-token: device "${deviceId}" is given twice`);
    deviceTokens.set(deviceId, token);
  }
  const tokens = [...deviceTokens.values()];
  if (new Set(tokens).size !== tokens.length) {
    throw new UsageError('--device-token: expected a different token for every device');
  }

  const deviceTokensPath = values['device-tokens'] ?? null;
  if (deviceTokensPath !== null && deviceTokensPath.trim() === '')
    throw new UsageError('--device-tokens: expected a file path');

  const certPath = values['tls-cert'];
  const keyPath = values['tls-key'];
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new UsageError('--tls-cert and --tls-key: expected both (for https/wss) or neither');
  }
  if (certPath === '' || keyPath === '')
    throw new UsageError('--tls-cert/--tls-key: expected a file path');

  const webhooksPath = values.webhooks ?? null;
  if (webhooksPath === '') throw new UsageError('--webhooks: expected a file path');

  const logLevel = values['log-level'] ?? DEFAULT_LOG_LEVEL;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(
      `--log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${clip(logLevel)}"`,
    );
  }

  const logFormat = values['log-format'] ?? 'auto';
  if (!isLogFormat(logFormat)) {
    throw new UsageError(
      `--log-format: expected one of ${LOG_FORMATS.join(', ')}, got "${clip(logFormat)}"`,
    );
  }

  return {
    host,
    port: integer('--port', values.port, DEFAULT_PORT, 0, 65_535),
    apiKeys,
    apiKeyGenerated,
    deviceTokens,
    deviceTokensPath,
    pingIntervalMs: integer(
      '--ping-interval-ms',
      values['ping-interval-ms'],
      DEFAULT_PING_INTERVAL_MS,
      1,
      MAX_TIMER_MS,
    ),
    pongTimeoutMs: integer(
      '--pong-timeout-ms',
      values['pong-timeout-ms'],
      DEFAULT_PONG_TIMEOUT_MS,
      1,
      MAX_TIMER_MS,
    ),
    sessionTtlMs:
      1000 *
      integer(
        '--session-ttl-s',
        values['session-ttl-s'],
        DEFAULT_SESSION_TTL_MS / 1000,
        1,
        MAX_SESSION_TTL_S,
      ),
    tls: certPath !== undefined && keyPath !== undefined ? { certPath, keyPath } : null,
    webhooksPath,
    logLevel,
    logFormat,
    stateDir: stateDir(values['state-dir'], values.broker !== undefined),
    artifactsDir: artifactsDir(values.artifacts, values.broker !== undefined),
    artifactMaxBytes: integer(
      '--artifact-max-bytes',
      values['artifact-max-bytes'],
      DEFAULT_MAX_ARTIFACT_BYTES,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    updateKeys: (values['update-key'] ?? []).map((key) => {
      if (!isPublicKeyText(key))
        throw new UsageError(
          `--update-key: expected ed25519:<base64 of 32 bytes> (iottly-agent keygen), got "${clip(key)}"`,
        );
      return key;
    }),
    updateConcurrency: integer(
      '--update-concurrency',
      values['update-concurrency'],
      DEFAULT_UPDATE_CONCURRENCY,
      1,
      MAX_UPDATE_CONCURRENCY,
    ),
    broker: brokerOptions(values),
    maxSubscriptionsPerClient: integer(
      '--max-subscriptions-per-client',
      values['max-subscriptions-per-client'],
      DEFAULT_MAX_SUBSCRIPTIONS_PER_CLIENT,
      1,
      MAX_SUBSCRIPTIONS_PER_CLIENT,
    ),
  };
}

const BROKER_SCHEMES = ['mqtt:', 'mqtts:'];

/** `--broker` and the flags that only make sense with it. */
function brokerOptions(values: {
  broker?: string | undefined;
  'broker-username'?: string | undefined;
  'broker-password-file'?: string | undefined;
  'broker-ca'?: string | undefined;
}): HubBrokerOptions | null {
  const url = values.broker;
  const username = values['broker-username'];
  const passwordPath = values['broker-password-file'];
  const caPath = values['broker-ca'];
  if (url === undefined) {
    const stray = [
      username !== undefined ? '--broker-username' : null,
      passwordPath !== undefined ? '--broker-password-file' : null,
      caPath !== undefined ? '--broker-ca' : null,
    ].filter((flag) => flag !== null);
    if (stray.length > 0) throw new UsageError(`${stray.join(', ')}: expected with --broker URL`);
    return null;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(
      `--broker: expected mqtt://HOST:PORT or mqtts://HOST:PORT, got "${clip(url)}"`,
    );
  }
  if (!BROKER_SCHEMES.includes(parsed.protocol) || parsed.hostname === '') {
    throw new UsageError(
      `--broker: expected mqtt://HOST:PORT or mqtts://HOST:PORT, got "${clip(url)}"`,
    );
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new UsageError(
      '--broker: put credentials in --broker-username and --broker-password-file, not in the URL',
    );
  }
  if (username === '') throw new UsageError('--broker-username: expected a user name');
  if (passwordPath === '') throw new UsageError('--broker-password-file: expected a file path');
  if (caPath === '') throw new UsageError('--broker-ca: expected a file path');
  if (caPath !== undefined && parsed.protocol !== 'mqtts:')
    throw new UsageError('--broker-ca: expected with an mqtts:// --broker');
  return {
    url,
    username: username ?? null,
    passwordPath: passwordPath ?? null,
    caPath: caPath ?? null,
  };
}

function isLogFormat(text: string): text is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(text);
}

function stateDir(path: string | undefined, onBroker: boolean): string | null {
  if (path === undefined) return null;
  if (onBroker)
    throw new UsageError(
      '--state-dir: not with --broker (the fleet keeps its delivery cursors on the broker)',
    );
  if (path.trim() === '') throw new UsageError('--state-dir: expected a directory path');
  return path;
}

function artifactsDir(path: string | undefined, onBroker: boolean): string | null {
  if (path === undefined) return null;
  if (onBroker)
    throw new UsageError(
      "--artifacts: not with --broker (updates travel on a device's own WebSocket link)",
    );
  if (path.trim() === '') throw new UsageError('--artifacts: expected a directory path');
  return path;
}

function splitDeviceToken(entry: string): [string, string] {
  const eq = entry.indexOf('=');
  if (eq < 0) throw new UsageError('--device-token: expected DEVICE_ID=TOKEN, got no "="');
  const deviceId = entry.slice(0, eq);
  const token = entry.slice(eq + 1);
  if (!DEVICE_ID_PATTERN.test(deviceId)) {
    throw new UsageError(
      `--device-token: expected a device id matching ${DEVICE_ID_PATTERN}, got "${clip(deviceId)}"`,
    );
  }
  if (token.length === 0)
    throw new UsageError(`--device-token: expected a non-empty token for "${deviceId}"`);
  return [deviceId, token];
}

function integer(
  flag: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (text === undefined) return fallback;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag}: expected an integer from ${min} to ${max}, got "${clip(text)}"`);
  }
  return value;
}

function firstLine(message: string): string {
  return message.split('\n')[0]?.split('. To specify')[0] ?? message;
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
