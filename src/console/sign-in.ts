/**
 * The sign-in form. The key goes straight to the session exchange and is kept by the
 * SessionKeeper in memory; the field is cleared at once and the browser is asked not to save it.
 */
export class SignIn {
  readonly #root: HTMLElement;
  readonly #form: HTMLFormElement;
  readonly #key: HTMLInputElement;
  readonly #message: HTMLElement;
  readonly #submit: HTMLButtonElement;

  constructor(root: HTMLElement, onKey: (apiKey: string) => Promise<void>) {
    this.#root = root;
    this.#form = root.querySelector('form') as HTMLFormElement;
    this.#key = this.#form.querySelector('input') as HTMLInputElement;
    this.#message = root.querySelector('.sign-in-message') as HTMLElement;
    this.#submit = this.#form.querySelector('button') as HTMLButtonElement;
    this.#form.addEventListener('submit', (event) => {
      event.preventDefault();
      const apiKey = this.#key.value.trim();
      if (apiKey === '') return;
      this.#key.value = '';
      this.#submit.disabled = true;
      this.#message.textContent = 'Signing in…';
      onKey(apiKey)
        .then(() => this.hide())
        .catch((err: Error) => {
          this.#message.textContent = `Not signed in: ${err.message}`;
          this.#key.focus();
        })
        .finally(() => (this.#submit.disabled = false));
    });
  }

  ask(reason: string): void {
    this.#message.textContent = reason;
    this.#root.hidden = false;
    this.#key.focus();
  }

  hide(): void {
    this.#root.hidden = true;
  }
}
