import { UsageError } from './usage-error.js';

/**
 * The hub's `/v1/stream` WebSocket URL from what an operator types (its base URL, usually), for
 * the commands that are stream clients (`exec`, `shell`); `command` names the one in errors.
 */
export function hubStreamUrl(hub: string, command: string): string {
  let url: URL;
  try {
    url = new URL(hub);
  } catch {
    throw new UsageError(`${command}: the hub URL "${hub}" is not a URL`);
  }
  const schemes: Record<string, string> = {
    'http:': 'ws:',
    'https:': 'wss:',
    'ws:': 'ws:',
    'wss:': 'wss:',
  };
  const scheme = schemes[url.protocol];
  if (!scheme)
    throw new UsageError(`${command}: the hub URL must be http(s) or ws(s), got "${hub}"`);
  url.protocol = scheme;
  if (!url.pathname.endsWith('/v1/stream'))
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/stream`;
  return url.toString();
}
