import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { DEVICE_ID_PATTERN } from '../protocol/fields.js';
import { MAX_FORWARD_HOST_CHARS } from '../protocol/forward-sessions.js';
import { hubStreamUrl } from './stream-url.js';
import { UsageError } from './usage-error.js';

/**
 * `iottly-agent forward [--hub URL] [--api-key KEY] DEVICE [BIND_ADDR:]LOCAL_PORT:HOST:PORT`,
 * the spec written as for `ssh -L` (IPv6 addresses in brackets). LOCAL_PORT 0 picks a free port
 * (the line printed when listening names it).
 */
export interface ForwardArgs {
  hubUrl: string;
  apiKey: string;
  deviceId: string;
  bindAddress: string;
  localPort: number;
  targetHost: string;
  targetPort: number;
}

/** Only this machine reaches the local port unless the operator binds wider, as ssh -L. */
export const DEFAULT_BIND_ADDRESS = '127.0.0.1';

export function parseForwardArgs(
  argv: string[],
  env: Record<string, string | undefined>,
): ForwardArgs {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError(`forward: ${(err as Error).message}`);
  }
  const { values, positionals } = parsed;
  const [deviceId, spec, ...extra] = positionals;
  if (deviceId === undefined || spec === undefined || extra.length > 0)
    throw new UsageError('forward: expected DEVICE [BIND_ADDR:]LOCAL_PORT:HOST:PORT');
  if (!DEVICE_ID_PATTERN.test(deviceId))
    throw new UsageError(`forward: "${deviceId}" is not a device id`);
  const hubUrl = values.hub ?? env.IOTTLY_HUB_URL;
  if (!hubUrl) throw new UsageError('forward: the hub is needed: --hub URL or IOTTLY_HUB_URL');
  const apiKey = values['api-key'] ?? env.IOTTLY_API_KEY;
  if (!apiKey)
    throw new UsageError('forward: an API key is needed: --api-key KEY or IOTTLY_API_KEY');
  return { hubUrl: hubStreamUrl(hubUrl, 'forward'), apiKey, deviceId, ...parseForwardSpec(spec) };
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: { hub: { type: 'string' }, 'api-key': { type: 'string' } },
  });
}

/** `[BIND_ADDR:]LOCAL_PORT:HOST:PORT` → its parts; a UsageError names what is wrong. */
export function parseForwardSpec(
  spec: string,
): Pick<ForwardArgs, 'bindAddress' | 'localPort' | 'targetHost' | 'targetPort'> {
  const parts = splitSpec(spec);
  const expected = `forward: "${spec}" is not [BIND_ADDR:]LOCAL_PORT:HOST:PORT`;
  if (parts === null || (parts.length !== 3 && parts.length !== 4)) throw new UsageError(expected);
  const [bind, local, host, port] = parts.length === 4 ? parts : [DEFAULT_BIND_ADDRESS, ...parts];
  const localPort = portNumber(local, 0);
  const targetPort = portNumber(port, 1);
  if (localPort === null) throw new UsageError(`${expected}: LOCAL_PORT must be 0…65535`);
  if (targetPort === null) throw new UsageError(`${expected}: PORT must be 1…65535`);
  if (!host || host.length > MAX_FORWARD_HOST_CHARS || !/^[A-Za-z0-9._:-]+$/.test(host))
    throw new UsageError(`${expected}: HOST must be a name or an address`);
  if (!bind || (bind !== 'localhost' && bind !== '*' && isIP(bind) === 0))
    throw new UsageError(`${expected}: BIND_ADDR must be an IP address, localhost or *`);
  return {
    bindAddress: bind === '*' ? '0.0.0.0' : bind,
    localPort,
    targetHost: host,
    targetPort,
  };
}

/** Splits on the colons outside brackets; `[::1]` loses its brackets. Null on a stray bracket. */
function splitSpec(spec: string): string[] | null {
  const parts: string[] = [];
  let at = 0;
  while (at <= spec.length) {
    if (spec[at] === '[') {
      const close = spec.indexOf(']', at);
      if (close < 0 || (close + 1 < spec.length && spec[close + 1] !== ':')) return null;
      parts.push(spec.slice(at + 1, close));
      at = close + 2;
      continue;
    }
    const colon = spec.indexOf(':', at);
    const end = colon < 0 ? spec.length : colon;
    const part = spec.slice(at, end);
    if (part.includes('[') || part.includes(']')) return null;
    parts.push(part);
    at = end + 1;
  }
  return parts;
}

function portNumber(text: string | undefined, min: number): number | null {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= min && port <= 65_535 ? port : null;
}
