import type { UpdateStateView } from '../protocol/updates.js';
import { h } from './dom.js';
import type { Device } from './devices.js';
import type { KeyPrompt } from './key-prompt.js';
import type { UpdatesApi } from './updates-api.js';

/**
 * The selected device's agent update, in the detail header: its version and last update's
 * state, and an "Update" button that lists the hub's artifacts for the device's arch and asks
 * the hub to install the chosen one (with the API key, asked for this one request). Progress
 * comes back as `update_state` frames and the device list's `update`.
 */
export class UpdatePanel {
  readonly #state: HTMLElement;
  readonly #button: HTMLButtonElement;
  readonly #form: HTMLFormElement;
  readonly #versions: HTMLSelectElement;
  readonly #message: HTMLElement;
  readonly #api: UpdatesApi;
  readonly #keys: KeyPrompt;
  #device: Device | null = null;

  constructor(host: HTMLElement, api: UpdatesApi, keys: KeyPrompt) {
    this.#api = api;
    this.#keys = keys;
    this.#state = h('span', { class: 'update-state', id: 'update-state' });
    this.#button = h('button', { type: 'button', id: 'update-open', class: 'link' }, 'Update');
    this.#versions = h('select', { id: 'update-version', 'aria-label': 'version' });
    this.#message = h('span', { class: 'update-message', id: 'update-message' });
    const cancel = h('button', { type: 'button', class: 'link' }, 'Cancel');
    this.#form = h(
      'form',
      { class: 'update-form', id: 'update-form', hidden: true },
      this.#versions,
      h('button', { type: 'submit', id: 'update-submit' }, 'Install'),
      cancel,
    );
    host.append(
      h('span', { class: 'update' }, this.#state, this.#button, this.#form, this.#message),
    );
    this.#button.addEventListener('click', () => void this.#open());
    cancel.addEventListener('click', () => (this.#form.hidden = true));
    this.#form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#submit();
    });
  }

  /** The selected device (or none) as the list last showed it. */
  show(device: Device | undefined): void {
    if (device?.device_id !== this.#device?.device_id) {
      this.#form.hidden = true;
      this.#message.textContent = '';
    }
    this.#device = device ?? null;
    this.#state.textContent = device ? describe(device) : '';
    this.#button.disabled = !device?.connected || device.arch === null;
  }

  async #open(): Promise<void> {
    const device = this.#device;
    if (!device?.arch) return;
    this.#message.textContent = '';
    try {
      const artifacts = await this.#api.artifactsFor(device.arch);
      if (artifacts.length === 0) {
        this.#message.textContent = `the hub holds no artifact for ${device.arch}`;
        return;
      }
      this.#versions.replaceChildren(
        ...artifacts.map((a) =>
          h('option', { value: a.version }, `${a.version} (${mib(a.size)} MiB)`),
        ),
      );
      this.#form.hidden = false;
    } catch (err) {
      this.#message.textContent = (err as Error).message;
    }
  }

  async #submit(): Promise<void> {
    const device = this.#device;
    const version = this.#versions.value;
    if (!device || version === '') return;
    const key = await this.#keys.ask(
      `Updating the agent of ${device.device_id} to ${version} needs the API key itself.`,
    );
    if (key === null) return;
    try {
      await this.#api.request(device.device_id, version, key);
      this.#form.hidden = true;
      this.#message.textContent = `update to ${version} asked`;
    } catch (err) {
      this.#message.textContent = (err as Error).message;
    }
  }
}

/** `agent 1.2.0 · update 1.3.0: downloading 45 %`, as the header and the list show it. */
export function describe(device: Device): string {
  const version = `agent ${device.agent_version ?? '?'}`;
  return device.update ? `${version} · ${updateText(device.update)}` : version;
}

export function updateText(
  update: Pick<UpdateStateView, 'version' | 'state' | 'bytes' | 'size' | 'cause'>,
): string {
  const percent =
    update.state === 'downloading' && update.size > 0
      ? ` ${Math.floor((100 * update.bytes) / update.size)} %`
      : '';
  const cause = update.cause && update.state !== 'done' ? ` (${update.cause})` : '';
  return `update ${update.version}: ${update.state.replace('_', ' ')}${percent}${cause}`;
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}
