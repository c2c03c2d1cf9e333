import type { Logger } from 'pino';
import { Router } from '../../src/agent/router.js';
import { SessionKinds } from '../../src/agent/session-kinds.js';
import type { FrameError } from '../../src/protocol/parse.js';

/**
 * The Router and session registry of a hand-built AgentContext, for a feature tested (or
 * measured) without an Agent: bad frames go to `onError`, session refusals nowhere, and the
 * link speaks no binary frames.
 */
export function routerAndSessions(
  logger: Logger,
  onError: (error: FrameError) => void = () => {},
): { router: Router; sessions: SessionKinds } {
  const router = new Router(onError);
  return {
    router,
    sessions: new SessionKinds(
      router,
      logger,
      () => {},
      () => false,
    ),
  };
}
