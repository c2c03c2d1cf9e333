import { h } from './dom.js';

/**
 * Asks for the API key for one request that a session token cannot make (creating or deleting a
 * webhook, a test message: docs/protocol.md, "Scopes"). The key is handed to the caller and the
 * field emptied at once; nothing here keeps it, and it never goes in storage or a URL. Cancel
 * (or Escape) answers null.
 */
export class KeyPrompt {
  readonly #root: HTMLElement;
  readonly #message: HTMLElement;
  readonly #key: HTMLInputElement;
  #answer: ((key: string | null) => void) | null = null;

  constructor(host: HTMLElement) {
    this.#message = h('p', { class: 'sign-in-message' });
    this.#key = h('input', {
      type: 'password',
      name: 'api-key-again',
      placeholder: 'API key',
      autocomplete: 'off',
      'aria-label': 'API key',
    });
    const cancel = h('button', { type: 'button', class: 'key-prompt-cancel' }, 'Cancel');
    const form = h(
      'form',
      { autocomplete: 'off' },
      this.#key,
      h('button', { type: 'submit' }, 'Continue'),
      cancel,
    );
    this.#root = h(
      'div',
      { class: 'sign-in key-prompt', hidden: true },
      h(
        'div',
        { class: 'sign-in-box', role: 'dialog', 'aria-modal': 'true', 'aria-label': 'API key' },
        h('h2', {}, 'API key'),
        this.#message,
        form,
      ),
    );
    host.append(this.#root);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const key = this.#key.value.trim();
      if (key !== '') this.#close(key);
    });
    cancel.addEventListener('click', () => this.#close(null));
    this.#root.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.#close(null);
    });
  }

  /** Shows `reason` and waits for the key (null: the person cancelled). */
  ask(reason: string): Promise<string | null> {
    this.#close(null);
    this.#message.textContent = reason;
    this.#root.hidden = false;
    this.#key.focus();
    return new Promise((resolve) => (this.#answer = resolve));
  }

  #close(key: string | null): void {
    this.#key.value = '';
    this.#root.hidden = true;
    const answer = this.#answer;
    this.#answer = null;
    answer?.(key);
  }
}
