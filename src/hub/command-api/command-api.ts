import type { Logger } from 'pino';
import { CloseCode } from '../../protocol/close-codes.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { FrameError, ParsedFrame } from '../../protocol/parse.js';
import { isoNow, type Clock } from '../../time/clock.js';
import { uniqueId, type IdSource } from '../ids.js';
import type { ClientEvents } from '../links.js';
import type { WebhookMessage } from '../webhooks/webhook-message.js';
import {
  CommandResults,
  type CommandKind,
  type CommandResultLimits,
  type CommandResultView,
} from './command-results.js';
import { RestClientLink } from './rest-client-link.js';
import { resultWebhookMessage } from './result-webhook.js';

/**
 * The REST Command API without HTTP: starts a `command` or `app_command` through the broker as
 * the in-process client RestClientLink, keeps its result in CommandResults, cancels by id, and
 * hands each result no HTTP request waited for to the webhooks (`postResult`). The routes
 * (command-routes.ts) validate the request and answer it.
 */
export interface CommandApiOptions {
  broker: ClientEvents;
  clock: Clock;
  ids: IdSource;
  logger: Logger;
  limits: CommandResultLimits;
  postResult: (msg: WebhookMessage) => void;
}

export type Started = { ok: true; id: string } | { ok: false; error: FrameError };

/** The client id of the Command API in the broker's logs. */
export const COMMAND_API_CLIENT_ID = 'command-api';

export class CommandApi {
  readonly results: CommandResults;
  readonly #o: CommandApiOptions;
  readonly #link: RestClientLink;

  constructor(options: CommandApiOptions) {
    this.#o = options;
    this.results = new CommandResults({
      clock: options.clock,
      limits: options.limits,
      onEnd: (view, waited) => {
        if (!waited) options.postResult(resultWebhookMessage(view, isoNow(options.clock)));
      },
    });
    this.#link = new RestClientLink({
      id: COMMAND_API_CLIENT_ID,
      events: options.broker,
      results: this.results,
      logger: options.logger,
    });
  }

  /**
   * Forwards a validated payload (with its `device_id`) under a new id; the broker's refusal
   * (unknown or offline device, device_busy, too_many_requests, …) comes back at once.
   */
  start(kind: CommandKind, payload: Record<string, unknown>): Started {
    const id = uniqueId(this.#o.ids, 'cmd', (candidate) => this.results.has(candidate));
    if (!this.results.open(id, String(payload.device_id), kind)) {
      return {
        ok: false,
        error: {
          code: ErrorCode.tooManyRequests,
          message: `the hub keeps ${this.#o.limits.maxResults} command results and all are running`,
        },
      };
    }
    const refusal = this.#link.submit(frame(kind, id, payload));
    if (refusal === null) return { ok: true, id };
    this.results.discard(id);
    return { ok: false, error: refusal };
  }

  /** Sends `command_cancel` for a running command; the broker's refusal, or null. */
  cancel(id: string): FrameError | null {
    return this.#link.submit(frame('command_cancel', id, { request_id: id }));
  }

  /** The hub is stopping: the running commands are cancelled on their devices, as a client's. */
  close(): void {
    this.#o.broker.clientClosed(this.#link, CloseCode.goingAway, 'hub stopping');
  }

  get(id: string): CommandResultView | undefined {
    return this.results.get(id);
  }
}

function frame(type: string, id: string, payload: Record<string, unknown>): ParsedFrame {
  return { type, payload, request_id: id, raw: { type, request_id: id, payload } };
}
