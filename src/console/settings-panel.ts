import { h } from './dom.js';
import type { WebhooksPanel } from './webhooks-panel.js';

/**
 * The "Settings" drawer, the console's counterpart of the platform dashboard's project settings
 * panel: the header's Settings button toggles it, and its menu leads to "Configure webhooks"
 * (the only setting so far). The webhooks are listed afresh each time that page is opened.
 */
export class SettingsPanel {
  readonly #root: HTMLElement;
  readonly #content: HTMLElement;
  readonly #webhooks: WebhooksPanel;
  readonly #webhooksLink: HTMLButtonElement;

  constructor(root: HTMLElement, toggle: HTMLElement, webhooks: WebhooksPanel) {
    this.#root = root;
    this.#webhooks = webhooks;
    this.#webhooksLink = h(
      'button',
      { type: 'button', class: 'settings-link' },
      'Configure webhooks',
    );
    const close = h('button', { type: 'button', class: 'link settings-close' }, 'Close');
    this.#content = h(
      'div',
      { class: 'settings-content' },
      h('p', { class: 'panel-note' }, 'Choose a setting.'),
    );
    root.append(
      h('div', { class: 'settings-head' }, h('h2', {}, 'Settings'), close),
      h('nav', { class: 'settings-menu', 'aria-label': 'Settings' }, this.#webhooksLink),
      this.#content,
    );
    toggle.addEventListener('click', () => (root.hidden ? this.#open() : this.#close()));
    close.addEventListener('click', () => this.#close());
    this.#webhooksLink.addEventListener('click', () => this.#showWebhooks());
  }

  #open(): void {
    this.#root.hidden = false;
  }

  #close(): void {
    this.#root.hidden = true;
  }

  #showWebhooks(): void {
    this.#webhooksLink.setAttribute('aria-current', 'page');
    this.#content.replaceChildren(this.#webhooks.element);
    void this.#webhooks.refresh();
  }
}
