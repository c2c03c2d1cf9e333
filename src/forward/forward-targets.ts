import { isIP } from 'node:net';
import { array, string, type Validator } from '../protocol/schema.js';

/**
 * `forward.allow`: which `host:port` targets a forward may reach, as patterns with `*`
 * wildcards (`localhost:*`, `10.0.0.*:502`, `[::1]:22`, `*.plc.lan:80`). A host is compared
 * without case and without the brackets an IPv6 literal is written in; `*` in the host matches
 * any run of characters (dots included), in the port any digits.
 *
 * Both the host a request names and the address it resolves to must match (ForwardPolicy): a
 * name cannot carry a non-loopback address past a loopback-only list.
 */
export const DEFAULT_FORWARD_ALLOW: readonly string[] = ['localhost:*', '127.0.0.1:*', '[::1]:*'];

/** Longest pattern and most patterns `forward.allow` holds (a host is at most 253 characters). */
const MAX_PATTERN_CHARS = 300;
const MAX_PATTERNS = 256;

export interface TargetPattern {
  readonly text: string;
  readonly host: RegExp;
  readonly port: RegExp;
}

/** `host:port` (the host may be `[v6]`) → its parts, or a message saying what is wrong. */
export function splitTarget(text: string): { host: string; port: string } | string {
  const bracketed = /^\[([^\]]*)\]:([^:]*)$/.exec(text);
  if (bracketed) return { host: bracketed[1] as string, port: bracketed[2] as string };
  const colon = text.lastIndexOf(':');
  if (colon < 0) return `"${text}" has no ":port"`;
  const host = text.slice(0, colon);
  if (host.includes(':')) return `"${text}": write an IPv6 host in brackets, [::1]:22`;
  return { host, port: text.slice(colon + 1) };
}

/** Compiles one `forward.allow` entry; a string says what is wrong with it. */
export function parseTargetPattern(text: string): TargetPattern | string {
  const parts = splitTarget(text);
  if (typeof parts === 'string') return parts;
  const { host, port } = parts;
  if (host === '' || !/^[A-Za-z0-9.*:_-]+$/.test(host))
    return `"${text}": the host may hold letters, digits, . - _ : and *`;
  if (!/^(\*|\d{1,5})$/.test(port) || (port !== '*' && !validPort(Number(port))))
    return `"${text}": the port must be 1…65535 or *`;
  return {
    text,
    host: new RegExp(`^${host.toLowerCase().split('*').map(escape).join('.*')}$`),
    port: port === '*' ? /^\d+$/ : new RegExp(`^${Number(port)}$`),
  };
}

/** Whether any pattern lets `host` (as the request wrote it, or an address) on `port` through. */
export function targetAllowed(
  patterns: readonly TargetPattern[],
  host: string,
  port: number,
): boolean {
  const name = normalHost(host);
  const portText = String(port);
  return patterns.some((p) => p.host.test(name) && p.port.test(portText));
}

/** Lower case, no IPv6 brackets, no trailing dot of a fully qualified name. */
export function normalHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase().replace(/\.$/, '');
}

/** `host:port` for logs and messages, IPv6 in brackets. */
export function formatTarget(host: string, port: number): string {
  const bare = normalHost(host);
  return isIP(bare) === 6 ? `[${bare}]:${port}` : `${bare}:${port}`;
}

export function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65_535;
}

function escape(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

/** The convict format's validator: a list of patterns, each compiled once to check it. */
export const forwardAllowList: Validator<string[]> = (value, path) => {
  const r = array(string({ minLength: 1, maxLength: MAX_PATTERN_CHARS }), {
    maxItems: MAX_PATTERNS,
  })(value, path);
  if (!r.ok) return r;
  for (const [index, text] of r.value.entries()) {
    const pattern = parseTargetPattern(text);
    if (typeof pattern === 'string') return { ok: false, error: `${path}[${index}]: ${pattern}` };
  }
  return r;
};

/** The compiled list (the config was validated, so every entry compiles). */
export function compileTargets(texts: readonly string[]): TargetPattern[] {
  return texts.flatMap((text) => {
    const pattern = parseTargetPattern(text);
    return typeof pattern === 'string' ? [] : [pattern];
  });
}
