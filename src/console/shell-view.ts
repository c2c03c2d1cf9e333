import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';

/**
 * The shell pane: an xterm.js terminal (colours, cursor addressing, the alternate screen, so
 * `top` and `vi` work) that fills its panel. A ResizeObserver refits it when the page or the
 * panel changes size, and every new size goes to the session (the remote program gets
 * SIGWINCH); the current size is also on the pane as `data-rows`/`data-cols`.
 *
 * Keystrokes and pastes come out of xterm's onData as text (sent as UTF-8 bytes); copy is
 * xterm's selection: the browser's copy (menu, ⌘C) or Ctrl+Shift+C; paste is the browser's
 * paste (menu, ⌘V, Ctrl+Shift+V), which xterm turns into input (bracketed when the shell asks).
 * xterm keeps at most SCROLLBACK_LINES of history and refuses to queue more than its own
 * write limit (50 MB) of unrendered output, so the tab's memory stays bounded. Its stylesheet
 * comes with console.css.
 */
export const SCROLLBACK_LINES = 5_000;

export interface ShellViewActions {
  /** Text typed or pasted. */
  keys(text: string): void;
  /** Bytes that are not text (some mouse reports). */
  binary(bytes: Uint8Array): void;
  resized(rows: number, cols: number): void;
  newSession(): void;
}

const NOTE_COLOURS = { ok: '32', bad: '31', info: '36' } as const;

export class ShellView {
  readonly #root: HTMLElement;
  readonly #term: Terminal;
  readonly #fit = new FitAddon();
  readonly #status: HTMLElement;
  readonly #newSession: HTMLButtonElement;
  #fitQueued = false;

  constructor(root: HTMLElement, actions: ShellViewActions) {
    this.#root = root;
    this.#status = root.querySelector('.shell-status') as HTMLElement;
    this.#newSession = root.querySelector('.shell-new') as HTMLButtonElement;
    this.#term = new Terminal({
      scrollback: SCROLLBACK_LINES,
      cursorBlink: true,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace',
      fontSize: 13,
      theme: { background: '#0d1017', foreground: '#dde3ee', cursor: '#4fc3f7' },
    });
    this.#term.loadAddon(this.#fit);
    this.#term.onData((text) => actions.keys(text));
    this.#term.onBinary((text) => actions.binary(Uint8Array.from(text, (c) => c.charCodeAt(0))));
    this.#term.onResize(({ rows, cols }) => {
      this.#showSize();
      actions.resized(rows, cols);
    });
    this.#term.attachCustomKeyEventHandler((event) => this.#clipboardKey(event));
    this.#term.open(root.querySelector('.shell-screen') as HTMLElement);
    this.#newSession.addEventListener('click', () => actions.newSession());
    // Page resizes, the tab shown again, the sidebar moving: refit once per frame at most.
    new ResizeObserver(() => this.#queueFit()).observe(root);
    this.fit();
  }

  get rows(): number {
    return this.#term.rows;
  }

  get cols(): number {
    return this.#term.cols;
  }

  /** Fits the terminal to its panel now (a hidden panel keeps its size). */
  fit(): void {
    if (this.#root.offsetParent === null) return; // hidden: nothing to measure
    this.#fit.fit();
    this.#showSize();
  }

  write(bytes: Uint8Array): void {
    this.#term.write(bytes);
  }

  /** A line of the console's own in the terminal, in colour, on a line of its own. */
  note(text: string, tone: keyof typeof NOTE_COLOURS): void {
    this.#term.write(`\r\n\x1b[${NOTE_COLOURS[tone]}m[${text}]\x1b[0m\r\n`);
  }

  /** A clean screen for a new session (the old one's scrollback goes). */
  reset(): void {
    this.#term.reset();
  }

  focus(): void {
    this.#term.focus();
  }

  /** The line above the terminal (device, state) and whether "New session" may be clicked. */
  setStatus(text: string, canOpen: boolean): void {
    this.#status.textContent = text;
    this.#newSession.disabled = !canOpen;
  }

  #queueFit(): void {
    if (this.#fitQueued) return;
    this.#fitQueued = true;
    requestAnimationFrame(() => {
      this.#fitQueued = false;
      this.fit();
    });
  }

  #showSize(): void {
    this.#root.dataset['rows'] = String(this.#term.rows);
    this.#root.dataset['cols'] = String(this.#term.cols);
  }

  /** Ctrl+Shift+C copies the selection and Ctrl+Shift+V pastes, as in Linux terminals. */
  #clipboardKey(event: KeyboardEvent): boolean {
    if (!event.ctrlKey || !event.shiftKey || event.type !== 'keydown') return true;
    const key = event.key.toLowerCase();
    if (key === 'c') {
      event.preventDefault();
      const selection = this.#term.getSelection();
      if (selection !== '') void navigator.clipboard?.writeText(selection);
      return false;
    }
    // The browser's own paste: xterm takes it from the paste event.
    return key !== 'v';
  }
}
