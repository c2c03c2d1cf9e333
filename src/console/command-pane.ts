import { describeDone, OutputDecoder, type OutputFd } from './command-output.js';
import { h } from './dom.js';
import type { CommandDonePayload, CommandOutputPayload } from '../protocol/to-client.js';

/**
 * The "One command" pane (beside the shell): a command line, a timeout field, Run and Cancel, and the transcript.
 * One command runs at a time. Output streams in as it arrives, stderr in its own colour;
 * each command ends with a status line (exit code, signal, timeout/cancel, duration). The
 * transcript is capped (oldest lines go first), so a chatty command cannot eat the tab's memory.
 */
export const MAX_TRANSCRIPT_CHARS = 1_000_000;
const HISTORY_SIZE = 50;

export interface CommandPaneActions {
  /** Starts a command; returns false when it could not be sent (not connected). */
  run(command: string, timeoutS: number | undefined): boolean;
  cancel(): void;
}

export class CommandPane {
  readonly #form: HTMLFormElement;
  readonly #command: HTMLInputElement;
  readonly #timeout: HTMLInputElement;
  readonly #run: HTMLButtonElement;
  readonly #cancel: HTMLButtonElement;
  readonly #output: HTMLElement;
  readonly #history: string[] = [];
  #historyIndex = 0;
  #running = false;
  #decoder = new OutputDecoder();
  #chars = 0;
  #target = '';

  constructor(root: HTMLElement, actions: CommandPaneActions) {
    this.#form = root.querySelector('form') as HTMLFormElement;
    this.#command = root.querySelector('#command') as HTMLInputElement;
    this.#timeout = root.querySelector('#timeout') as HTMLInputElement;
    this.#run = root.querySelector('#run') as HTMLButtonElement;
    this.#cancel = root.querySelector('#cancel') as HTMLButtonElement;
    this.#output = root.querySelector('#output') as HTMLElement;
    this.#form.addEventListener('submit', (event) => {
      event.preventDefault();
      const command = this.#command.value.trim();
      if (command === '' || this.#running) return;
      const timeoutS = this.#timeoutSeconds();
      if (timeoutS === null) {
        this.#line('note', 'Timeout: enter a number of seconds (at least 1), or leave it empty.');
        return;
      }
      if (!actions.run(command, timeoutS)) {
        this.#line('note', 'Not connected to the hub: the command was not sent.');
        return;
      }
      this.#remember(command);
      this.#command.value = '';
    });
    this.#cancel.addEventListener('click', () => {
      if (this.#running) actions.cancel();
    });
    this.#command.addEventListener('keydown', (event) => this.#browseHistory(event));
    this.setTarget(null, false);
  }

  get running(): boolean {
    return this.#running;
  }

  /** Which device commands go to; the pane is disabled without one that is online. */
  setTarget(deviceId: string | null, online: boolean): void {
    this.#target = deviceId ?? '';
    this.#command.placeholder = deviceId
      ? `command to run on ${deviceId}, e.g. uname -a`
      : 'select a device';
    this.#run.disabled = this.#running || !online;
    this.#command.disabled = !deviceId;
  }

  started(command: string): void {
    this.#running = true;
    this.#decoder = new OutputDecoder();
    this.#run.disabled = true;
    this.#cancel.disabled = false;
    this.#line('prompt', `${this.#target}$ ${command}`);
  }

  output(payload: CommandOutputPayload): void {
    this.#append(payload.fd, this.#decoder.text(payload));
  }

  done(payload: CommandDonePayload): void {
    const { text, ok } = describeDone(payload);
    this.#finish(ok ? 'status ok' : 'status failed', text);
  }

  /** The command was refused or lost (an `error` frame, or the connection dropped). */
  failed(code: string, message: string): void {
    this.#finish('status failed', `${code}${message ? `: ${message}` : ''}`);
  }

  #finish(kind: string, text: string): void {
    if (!this.#running) return;
    this.#running = false;
    this.#cancel.disabled = true;
    this.#run.disabled = false;
    this.#line(kind, text);
    this.#command.focus();
  }

  #append(fd: OutputFd, text: string): void {
    if (text === '') return;
    const last = this.#output.lastElementChild as HTMLElement | null;
    // Consecutive chunks of one fd share a span: fewer nodes, same picture.
    if (last?.dataset['fd'] === fd) last.append(text);
    else this.#output.append(h('span', { class: `out ${fd}`, 'data-fd': fd }, text));
    this.#grew(text.length);
  }

  #line(kind: string, text: string): void {
    const previous = this.#output.lastElementChild?.textContent ?? '';
    const newline = this.#output.childElementCount > 0 && !previous.endsWith('\n') ? '\n' : '';
    this.#output.append(h('span', { class: `line ${kind}` }, `${newline}${text}\n`));
    this.#grew(text.length + 1);
  }

  #grew(chars: number): void {
    this.#chars += chars;
    while (this.#chars > MAX_TRANSCRIPT_CHARS && this.#output.firstElementChild) {
      this.#chars -= this.#output.firstElementChild.textContent?.length ?? 0;
      this.#output.firstElementChild.remove();
    }
    this.#output.scrollTop = this.#output.scrollHeight;
  }

  #timeoutSeconds(): number | undefined | null {
    const text = this.#timeout.value.trim();
    if (text === '') return undefined;
    const seconds = Number(text);
    return Number.isFinite(seconds) && seconds >= 1 ? seconds : null;
  }

  #remember(command: string): void {
    if (this.#history[this.#history.length - 1] !== command) this.#history.push(command);
    if (this.#history.length > HISTORY_SIZE) this.#history.shift();
    this.#historyIndex = this.#history.length;
  }

  #browseHistory(event: KeyboardEvent): void {
    if (event.key !== 'ArrowUp' && event.key !== 'ArrowDown') return;
    event.preventDefault();
    const step = event.key === 'ArrowUp' ? -1 : 1;
    this.#historyIndex = Math.min(this.#history.length, Math.max(0, this.#historyIndex + step));
    this.#command.value = this.#history[this.#historyIndex] ?? '';
  }
}
