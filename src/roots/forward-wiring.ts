import { lookup as dnsLookup } from 'node:dns/promises';
import { connect as netConnect } from 'node:net';
import type { AgentConfig } from '../config/load.js';
import { ForwardFeature } from '../forward/forward-feature.js';
import type { LookupFunction } from '../forward/forward-policy.js';
import type { ConnectFunction } from '../forward/forward-tunnel.js';

/** The forward feature from validated configuration; sockets and DNS may come in for tests. */
export interface ForwardDependencies {
  connect?: ConnectFunction;
  lookup?: LookupFunction;
}

/** One address for a name, as the system resolver orders them (getaddrinfo, /etc/hosts first). */
const systemLookup: LookupFunction = (host) => dnsLookup(host);

export function createForwardFeature(
  config: AgentConfig,
  deps: ForwardDependencies = {},
): ForwardFeature {
  return new ForwardFeature({
    settings: config.forward,
    connect: deps.connect ?? ((options) => netConnect(options)),
    lookup: deps.lookup ?? systemLookup,
  });
}
