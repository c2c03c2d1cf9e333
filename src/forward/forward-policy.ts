import { isIP } from 'node:net';
import {
  compileTargets,
  formatTarget,
  normalHost,
  targetAllowed,
  type TargetPattern,
} from './forward-targets.js';

/**
 * Whether a forward may reach `host:port`, and at which address: `forward.enabled`, then the
 * host as the request names it against `forward.allow`, then the address it resolves to against
 * the same list. The tunnel connects to that very address (never resolving the name again), so
 * an answer that changes between the check and the connect cannot widen the list.
 */
export interface ForwardPolicySettings {
  enabled: boolean;
  allow: readonly string[];
}

/** Resolves a name to one address (dns.lookup's first answer by default); injected for tests. */
export type LookupFunction = (host: string) => Promise<{ address: string; family: number }>;

export type ForwardDecision =
  | { ok: true; address: string; family: number }
  | { ok: false; reason: 'disabled' | 'not_allowed' | 'lookup_failed'; message: string };

export class ForwardPolicy {
  readonly #enabled: boolean;
  readonly #patterns: TargetPattern[];
  readonly #lookup: LookupFunction;

  constructor(settings: ForwardPolicySettings, lookup: LookupFunction) {
    this.#enabled = settings.enabled;
    this.#patterns = compileTargets(settings.allow);
    this.#lookup = lookup;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  async check(host: string, port: number): Promise<ForwardDecision> {
    const target = formatTarget(host, port);
    if (!this.#enabled)
      return {
        ok: false,
        reason: 'disabled',
        message: 'port forwarding is disabled on this device (forward.enabled)',
      };
    if (!targetAllowed(this.#patterns, host, port))
      return {
        ok: false,
        reason: 'not_allowed',
        message: `${target} is not in forward.allow`,
      };
    const bare = normalHost(host);
    const literal = isIP(bare);
    let resolved: { address: string; family: number };
    try {
      resolved = literal ? { address: bare, family: literal } : await this.#lookup(bare);
    } catch (err) {
      return {
        ok: false,
        reason: 'lookup_failed',
        message: `${target}: cannot resolve ${bare}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      };
    }
    if (!targetAllowed(this.#patterns, resolved.address, port))
      return {
        ok: false,
        reason: 'not_allowed',
        message: `${target} resolves to ${formatTarget(resolved.address, port)}, which is not in forward.allow`,
      };
    return { ok: true, ...resolved };
  }
}
