/**
 * The real agent (configuration from IOTTLY_* like `iottly-agent run`, real spool, real
 * connection) plus one test-only feature: synthetic telemetry on stream `synthetic` every
 * SYNTHETIC_INTERVAL_MS, whose value is the wall-clock time it was made. The fault scenarios
 * run it as a process (through tsx) and check delivery by seq at a stream client.
 */
import { createAgent } from '../../src/agent/create-agent.js';
import type { AgentContext, Feature } from '../../src/agent/agent.js';
import { basicInventory } from '../../src/agent/inventory.js';
import { onShutdownSignal } from '../../src/cli/signals.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { Channel } from '../../src/protocol/message.js';

export const SYNTHETIC_STREAM = 'synthetic';

class SyntheticTelemetry implements Feature {
  readonly name = 'synthetic-telemetry';
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  capabilities(): string[] {
    return [`telemetry:${SYNTHETIC_STREAM}`];
  }

  start(context: AgentContext): void {
    this.#timer = setInterval(() => {
      const now = context.clock.date();
      context.emit('telemetry', Channel.telemetry, {
        stream: SYNTHETIC_STREAM,
        ts: now.toISOString(),
        value: now.getTime(),
      });
    }, this.#intervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
  }
}

const { config } = loadConfig({
  configPath: undefined,
  env: process.env,
  flags: {},
  readFile: () => {
    throw Object.assign(new Error('no file'), { code: 'ENOENT' });
  },
});
const logger = createLogger({ level: config.log.level });
const stopSignal = onShutdownSignal();
const agent = createAgent(
  config,
  { token: config.auth.token, tls: {} },
  {
    logger,
    inventory: basicInventory(),
    features: [new SyntheticTelemetry(Number(process.env.SYNTHETIC_INTERVAL_MS ?? 50))],
  },
);
await agent.start();
logger.info('synthetic agent started');
await stopSignal;
await agent.stop();
logger.info('stopped');
process.exit(0);
