import { h } from './dom.js';
import { ago, type Device } from './devices.js';

/** The left-hand list: one row per device, the selected one marked; a click selects. */
export class DeviceList {
  readonly #root: HTMLElement;
  readonly #onSelect: (deviceId: string) => void;

  constructor(root: HTMLElement, onSelect: (deviceId: string) => void) {
    this.#root = root;
    this.#onSelect = onSelect;
  }

  render(devices: readonly Device[], selectedId: string | null, nowMs: number): void {
    if (devices.length === 0) {
      this.#root.replaceChildren(h('li', { class: 'empty' }, 'No devices yet.'));
      return;
    }
    this.#root.replaceChildren(
      ...devices.map((device) => {
        const item = h(
          'li',
          {
            class: `device${device.device_id === selectedId ? ' selected' : ''}`,
            'data-device-id': device.device_id,
            'data-connected': String(device.connected),
            tabindex: '0',
            role: 'button',
            'aria-pressed': String(device.device_id === selectedId),
          },
          h(
            'div',
            { class: 'device-head' },
            h('span', {
              class: `dot ${device.connected ? 'online' : 'offline'}`,
              title: device.connected ? 'connected' : 'offline',
            }),
            h('span', { class: 'device-id' }, device.device_id),
          ),
          h(
            'div',
            { class: 'device-seen' },
            device.connected
              ? `connected · seen ${ago(device.last_seen, nowMs)}`
              : `offline · last seen ${ago(device.last_seen, nowMs)}`,
          ),
          h(
            'dl',
            { class: 'device-facts' },
            ...fact('agent', device.agent_version),
            ...fact('os', device.os),
            ...fact('model', device.model ?? device.arch),
            ...fact('host', device.hostname),
          ),
        );
        const select = (): void => this.#onSelect(device.device_id);
        item.addEventListener('click', select);
        item.addEventListener('keydown', (event) => {
          if (event.key === 'Enter' || event.key === ' ') select();
        });
        return item;
      }),
    );
  }
}

function fact(label: string, value: string | null): HTMLElement[] {
  return value === null ? [] : [h('dt', {}, label), h('dd', { class: `fact-${label}` }, value)];
}
