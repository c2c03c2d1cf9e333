import { h } from './dom.js';
import type { KeyPrompt } from './key-prompt.js';
import { WebhookForm } from './webhook-form.js';
import {
  WebhooksApiError,
  describeTestOutcome,
  type ListedWebhook,
  type WebhooksApi,
} from './webhooks-api.js';
import './webhooks-panel.css';

/**
 * Settings → "Configure webhooks", as the platform's dashboard has it: the active webhooks, "Add
 * webhook" opening the form, "Create webhook", and per webhook "Send test message" and "Delete".
 * Header values show as the hub masks them. Every write asks for the API key again (KeyPrompt):
 * the page's session token lists but cannot change the set (docs/protocol.md, "Scopes").
 */
const KEY_REASON =
  'needs the API key itself: the session token cannot. It is sent with this one request and not kept.';

export interface WebhooksPanelOptions {
  api: WebhooksApi;
  keys: KeyPrompt;
}

export class WebhooksPanel {
  readonly element: HTMLElement;
  readonly #o: WebhooksPanelOptions;
  readonly #list: HTMLUListElement;
  readonly #status: HTMLElement;
  readonly #form: WebhookForm;
  /** Each webhook's last test outcome, shown again when the list is drawn afresh. */
  readonly #results = new Map<string, { status: string; text: string }>();

  constructor(options: WebhooksPanelOptions) {
    this.#o = options;
    this.#list = h('ul', { class: 'webhooks' });
    this.#status = h('p', { class: 'panel-status', role: 'status' });
    this.#form = new WebhookForm((spec) => void this.#create(spec));
    const add = h('button', { type: 'button', class: 'add-webhook' }, 'Add webhook');
    add.addEventListener('click', () => this.#form.open());
    this.element = h(
      'section',
      { class: 'webhooks-panel', 'aria-label': 'Configure webhooks' },
      h('h3', {}, 'Configure webhooks'),
      h(
        'p',
        { class: 'panel-note' },
        'Each device message is POSTed to the webhooks that take it. Up to 5 webhooks per hub.',
      ),
      this.#list,
      this.#status,
      add,
      this.#form.element,
    );
  }

  async refresh(): Promise<void> {
    try {
      this.#render(await this.#o.api.list());
    } catch (err) {
      this.#say(`The webhooks could not be listed: ${reason(err)}`);
    }
  }

  #render(webhooks: ListedWebhook[]): void {
    this.#list.dataset['count'] = String(webhooks.length);
    for (const id of this.#results.keys()) {
      if (!webhooks.some((w) => w.id === id)) this.#results.delete(id);
    }
    if (webhooks.length === 0) {
      this.#list.replaceChildren(h('li', { class: 'empty' }, 'No webhooks yet.'));
      return;
    }
    this.#list.replaceChildren(...webhooks.map((w) => this.#item(w)));
  }

  #item(webhook: ListedWebhook): HTMLElement {
    const shown = this.#results.get(webhook.id);
    const result = h(
      'span',
      { class: 'test-result', 'aria-live': 'polite', 'data-status': shown?.status },
      shown?.text,
    );
    const test = h('button', { type: 'button', class: 'send-test' }, 'Send test message');
    const remove = h('button', { type: 'button', class: 'delete-webhook' }, 'Delete');
    test.addEventListener('click', () => void this.#test(webhook, test, result));
    remove.addEventListener('click', () => void this.#remove(webhook));
    const facts = [
      webhook.type,
      webhook.channel === undefined ? 'any channel' : `channel ${webhook.channel}`,
      webhook.payload_only === true ? 'payload only' : 'whole message',
    ];
    const headers = Object.entries(webhook.headers ?? {});
    return h(
      'li',
      { class: 'webhook', 'data-webhook-id': webhook.id },
      h('div', { class: 'webhook-title' }, h('strong', {}, webhook.description), ` ${webhook.id}`),
      h('div', { class: 'webhook-url' }, webhook.url),
      h('div', { class: 'webhook-facts' }, facts.join(' · ')),
      headers.length > 0 &&
        h(
          'ul',
          { class: 'webhook-headers' },
          ...headers.map(([name, value]) => h('li', {}, `${name}: ${value}`)),
        ),
      h('div', { class: 'webhook-actions' }, test, remove, result),
    );
  }

  async #create(spec: Record<string, unknown>): Promise<void> {
    this.#form.busy(true);
    try {
      const key = await this.#o.keys.ask(`Creating a webhook ${KEY_REASON}`);
      if (key === null) return;
      this.#form.failed('');
      await this.#o.api.create(spec, key);
      this.#form.reset();
      this.#say('');
      await this.refresh();
    } catch (err) {
      this.#form.failed(reason(err));
    } finally {
      this.#form.busy(false);
    }
  }

  async #remove(webhook: ListedWebhook): Promise<void> {
    const key = await this.#o.keys.ask(`Deleting “${webhook.description}” ${KEY_REASON}`);
    if (key === null) return;
    try {
      await this.#o.api.remove(webhook.id, key);
      this.#say(`Deleted “${webhook.description}”.`);
    } catch (err) {
      this.#say(`Not deleted: ${reason(err)}`);
    }
    await this.refresh();
  }

  async #test(
    webhook: ListedWebhook,
    button: HTMLButtonElement,
    result: HTMLElement,
  ): Promise<void> {
    const key = await this.#o.keys.ask(`A test message ${KEY_REASON}`);
    if (key === null) return;
    button.disabled = true;
    result.textContent = 'Sending…';
    delete result.dataset['status'];
    let shown: { status: string; text: string };
    try {
      const outcome = await this.#o.api.sendTest(webhook.id, key);
      shown = { status: String(outcome.status), text: describeTestOutcome(outcome) };
    } catch (err) {
      shown = { status: 'error', text: reason(err) };
    }
    button.disabled = false;
    this.#results.set(webhook.id, shown);
    result.dataset['status'] = shown.status;
    result.textContent = shown.text;
  }

  #say(text: string): void {
    this.#status.textContent = text;
  }
}

/** The hub's own message for a refusal; for a hub that did not answer, that. */
function reason(err: unknown): string {
  if (err instanceof WebhooksApiError) return err.message;
  return `the hub did not answer (${(err as Error).message})`;
}
