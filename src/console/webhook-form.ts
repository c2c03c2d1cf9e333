import { h } from './dom.js';

/**
 * The "Add webhook" form with exactly the platform dashboard's fields: Description, URL, Type
 * (`iottly` / `user`), Channel, Payload only, and up to 5 HTTP headers as rows to add and
 * remove. It checks nothing itself: `spec()` is what the person typed, shaped as
 * `POST /v1/webhooks` takes it, and the hub's refusal is shown with `failed()` word for word.
 */
/** Header rows the platform's form offers; the hub enforces the same number on its own. */
export const HEADER_ROWS = 5;

export class WebhookForm {
  readonly element: HTMLFormElement;
  readonly #description: HTMLInputElement;
  readonly #url: HTMLInputElement;
  readonly #type: HTMLSelectElement;
  readonly #channel: HTMLInputElement;
  readonly #payloadOnly: HTMLInputElement;
  readonly #headers: HTMLElement;
  readonly #addHeader: HTMLButtonElement;
  readonly #error: HTMLElement;
  readonly #submit: HTMLButtonElement;

  constructor(onSubmit: (spec: Record<string, unknown>) => void) {
    this.#description = h('input', { name: 'description', type: 'text', autocomplete: 'off' });
    this.#url = h('input', {
      name: 'url',
      type: 'text',
      placeholder: 'https://',
      autocomplete: 'off',
    });
    this.#type = h(
      'select',
      { name: 'type' },
      h('option', { value: 'iottly' }, 'iottly'),
      h('option', { value: 'user' }, 'user'),
    );
    this.#channel = h('input', { name: 'channel', type: 'text', autocomplete: 'off' });
    this.#payloadOnly = h('input', { name: 'payload_only', type: 'checkbox' });
    this.#headers = h('div', { class: 'header-rows' });
    this.#addHeader = h('button', { type: 'button', class: 'add-header' }, 'Add header');
    this.#error = h('p', { class: 'form-error', role: 'alert' });
    this.#submit = h('button', { type: 'submit', class: 'create-webhook' }, 'Create webhook');
    const field = (label: string, input: HTMLElement, hint = ''): HTMLElement =>
      h('label', { class: 'field' }, h('span', {}, label), input, hint && h('small', {}, hint));
    this.element = h(
      'form',
      { class: 'webhook-form', autocomplete: 'off', hidden: true },
      h('h3', {}, 'Set up a webhook'),
      field('Description', this.#description, 'a human-friendly name for this webhook'),
      field('URL', this.#url, 'the HTTPS endpoint of your service'),
      field('Type', this.#type, 'iottly: the agent’s messages; user: your apps’ messages'),
      field('Channel', this.#channel, 'optional: only messages of this channel'),
      h(
        'label',
        { class: 'field checkbox' },
        this.#payloadOnly,
        h('span', {}, 'Payload only'),
        h('small', {}, 'deliver the payload alone, without the envelope'),
      ),
      h(
        'fieldset',
        { class: 'headers' },
        h('legend', {}, `HTTP headers (up to ${HEADER_ROWS})`),
        this.#headers,
        this.#addHeader,
      ),
      this.#error,
      h('div', { class: 'form-actions' }, this.#submit),
    );
    this.#addHeader.addEventListener('click', () => this.#addRow());
    this.element.addEventListener('submit', (event) => {
      event.preventDefault();
      onSubmit(this.spec());
    });
  }

  /** The webhook as typed: an empty Channel is no channel, a row without a name no header. */
  spec(): Record<string, unknown> {
    const spec: Record<string, unknown> = {
      description: this.#description.value,
      url: this.#url.value.trim(),
      type: this.#type.value,
      payload_only: this.#payloadOnly.checked,
    };
    const channel = this.#channel.value.trim();
    if (channel !== '') spec['channel'] = channel;
    const headers: Record<string, string> = {};
    for (const row of this.#headers.querySelectorAll('.header-row')) {
      const [name, value] = row.querySelectorAll('input');
      if (name && value && name.value.trim() !== '') headers[name.value.trim()] = value.value;
    }
    if (Object.keys(headers).length > 0) spec['headers'] = headers;
    return spec;
  }

  open(): void {
    this.element.hidden = false;
    this.#description.focus();
  }

  busy(busy: boolean): void {
    this.#submit.disabled = busy;
  }

  /** The hub's refusal, as it said it. */
  failed(message: string): void {
    this.#error.textContent = message;
  }

  /** After "Create webhook" worked: empty, closed, header values gone from the page. */
  reset(): void {
    this.element.reset();
    this.#headers.replaceChildren();
    this.#addHeader.disabled = false;
    this.#error.textContent = '';
    this.element.hidden = true;
  }

  #addRow(): void {
    if (this.#headers.childElementCount >= HEADER_ROWS) return;
    const remove = h('button', { type: 'button', class: 'remove-header' }, 'Remove');
    const row = h(
      'div',
      { class: 'header-row' },
      h('input', { type: 'text', placeholder: 'Name', 'aria-label': 'Header name' }),
      // A password field: the value is often a credential, so it is not shown on screen.
      h('input', {
        type: 'password',
        placeholder: 'Value',
        autocomplete: 'off',
        'aria-label': 'Header value',
      }),
      remove,
    );
    remove.addEventListener('click', () => {
      row.remove();
      this.#addHeader.disabled = false;
    });
    this.#headers.append(row);
    this.#addHeader.disabled = this.#headers.childElementCount >= HEADER_ROWS;
    (row.querySelector('input') as HTMLInputElement).focus();
  }
}
