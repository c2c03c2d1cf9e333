import type { ConnectionStatus } from './stream-client.js';

/**
 * The strip at the top that says when the page is not live: reconnecting (with the count-down
 * and a button to try at once), or signed out. Hidden while the connection is open.
 */
export class Banner {
  readonly #root: HTMLElement;
  readonly #text: HTMLElement;
  readonly #retry: HTMLButtonElement;
  #tick: ReturnType<typeof setInterval> | null = null;

  constructor(root: HTMLElement, onRetry: () => void) {
    this.#root = root;
    this.#text = root.querySelector('.banner-text') as HTMLElement;
    this.#retry = root.querySelector('button') as HTMLButtonElement;
    this.#retry.addEventListener('click', onRetry);
  }

  show(status: ConnectionStatus): void {
    this.#stopTick();
    this.#root.dataset['state'] = status.kind;
    this.#retry.hidden = status.kind !== 'backoff';
    switch (status.kind) {
      case 'open':
      case 'idle':
      case 'signed_out':
      case 'stopped':
        this.#root.hidden = true;
        return;
      case 'connecting':
        this.#root.hidden = status.attempt === 0;
        this.#text.textContent = `Reconnecting to the hub (attempt ${status.attempt + 1})…`;
        return;
      case 'backoff': {
        this.#root.hidden = false;
        const render = (): void => {
          const seconds = Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000));
          this.#text.textContent = `Connection lost: ${status.reason}. Reconnecting in ${seconds} s (attempt ${status.attempt}).`;
        };
        render();
        this.#tick = setInterval(render, 500);
        return;
      }
    }
  }

  #stopTick(): void {
    if (this.#tick !== null) clearInterval(this.#tick);
    this.#tick = null;
  }
}
