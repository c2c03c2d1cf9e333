import { h } from './dom.js';
import { ago, type Device } from './devices.js';
import {
  filterDevices,
  isStatusFilter,
  type DeviceCounts,
  type StatusFilter,
} from './device-filter.js';
import { rowWindow } from './row-window.js';
import { updateText } from './update-panel.js';
import { DEVICE_SEARCH_MEASURE, recordTiming } from './timing.js';
import './device-list.css';

/** Every row is this tall (device-list.css agrees), so a row's place is its index × this. */
export const ROW_HEIGHT_PX = 64;
/** Rows built beyond each edge of the viewport, so a quick scroll shows no gap. */
const OVERSCAN_ROWS = 8;

interface Row {
  element: HTMLLIElement;
  index: number;
  /** What the row shows, to refill it only when that changed. */
  shown: string;
}

/**
 * The left-hand list, for a fleet: a search by device id, an all/online/offline filter with
 * the counts, and a virtualised list. The list is a fixed-height scroller whose rows are all
 * ROW_HEIGHT_PX tall; only the rows in view (and a few either side) exist in the page, kept by
 * device id and refilled only when what they show changed, so a refresh or a keystroke costs
 * one pass over the devices plus a few dozen rows, at 10 devices or 10,000.
 *
 * Markup (index.html): `#device-search`, `#device-filter` with a button per `data-filter`,
 * `#device-counts`, and the scroller `#device-scroll` holding the list `#devices`.
 */
export class DeviceList {
  readonly #scroller: HTMLElement;
  readonly #list: HTMLElement;
  readonly #counts: HTMLElement;
  readonly #filterButtons: HTMLButtonElement[];
  readonly #onSelect: (deviceId: string) => void;
  readonly #rows = new Map<string, Row>();
  readonly #empty: HTMLLIElement = h('li', { class: 'empty' });
  #devices: readonly Device[] = [];
  #matches: Device[] = [];
  #selectedId: string | null = null;
  #nowMs = 0;
  #query = '';
  #status: StatusFilter = 'all';
  #paintPending = false;

  constructor(root: HTMLElement, onSelect: (deviceId: string) => void) {
    this.#onSelect = onSelect;
    this.#scroller = within(root, '#device-scroll');
    this.#list = within(root, '#devices');
    this.#counts = within(root, '#device-counts');
    this.#filterButtons = [...within(root, '#device-filter').querySelectorAll('button')];
    const search = within<HTMLInputElement>(root, '#device-search');
    search.addEventListener('input', () => {
      this.#query = search.value;
      this.#refilter();
    });
    for (const button of this.#filterButtons)
      button.addEventListener('click', () => {
        const filter = button.dataset['filter'];
        if (!isStatusFilter(filter) || filter === this.#status) return;
        this.#status = filter;
        this.#refilter();
      });
    // One listener for every row, present and future.
    this.#list.addEventListener('click', (event) => this.#selectFrom(event.target));
    this.#list.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this.#selectFrom(event.target);
      }
    });
    this.#scroller.addEventListener('scroll', () => this.#paintNextFrame(), { passive: true });
    new ResizeObserver(() => this.#paintNextFrame()).observe(this.#scroller);
  }

  /** The devices as the hub listed them; the search and the filter stay as the person set them. */
  render(devices: readonly Device[], selectedId: string | null, nowMs: number): void {
    this.#devices = devices;
    this.#selectedId = selectedId;
    this.#nowMs = nowMs;
    this.#apply();
  }

  #refilter(): void {
    const started = performance.now();
    this.#scroller.scrollTop = 0;
    this.#apply();
    recordTiming(DEVICE_SEARCH_MEASURE, started);
  }

  #apply(): void {
    const { matches, counts } = filterDevices(this.#devices, this.#query, this.#status);
    this.#matches = matches;
    this.#showCounts(counts);
    this.#paint();
  }

  #showCounts(counts: DeviceCounts): void {
    const { total, online, offline, matching } = counts;
    const byFilter: Record<StatusFilter, number> = { all: total, online, offline };
    for (const button of this.#filterButtons) {
      const filter = button.dataset['filter'];
      if (!isStatusFilter(filter)) continue;
      button.setAttribute('aria-pressed', String(filter === this.#status));
      const count = button.querySelector('.count');
      if (count) count.textContent = number(byFilter[filter]);
    }
    Object.assign(this.#counts.dataset, {
      total: String(total),
      online: String(online),
      offline: String(offline),
      matching: String(matching),
    });
    const filtered = this.#query.trim() !== '' || this.#status !== 'all';
    this.#counts.textContent = filtered
      ? `${number(matching)} of ${number(total)} shown`
      : `${number(total)} device${total === 1 ? '' : 's'}`;
  }

  #paintNextFrame(): void {
    if (this.#paintPending) return;
    this.#paintPending = true;
    requestAnimationFrame(() => {
      this.#paintPending = false;
      this.#paint();
    });
  }

  /** Puts in the page the rows in view, reusing the ones already there. */
  #paint(): void {
    const count = this.#matches.length;
    if (count === 0) {
      for (const row of this.#rows.values()) row.element.remove();
      this.#rows.clear();
      this.#list.style.height = '';
      this.#empty.textContent =
        this.#devices.length === 0 ? 'No devices yet.' : 'No device matches.';
      if (!this.#empty.isConnected) this.#list.append(this.#empty);
      return;
    }
    this.#empty.remove();
    this.#list.style.height = `${count * ROW_HEIGHT_PX}px`;
    const { start, end } = rowWindow(
      this.#scroller.scrollTop,
      this.#scroller.clientHeight,
      ROW_HEIGHT_PX,
      count,
      OVERSCAN_ROWS,
    );
    const inView = new Set<string>();
    for (let index = start; index < end; index++) {
      const device = this.#matches[index] as Device;
      inView.add(device.device_id);
      let row = this.#rows.get(device.device_id);
      if (!row) {
        row = {
          element: h('li', { class: 'device', tabindex: '0', role: 'button' }),
          index: -1,
          shown: '',
        };
        this.#rows.set(device.device_id, row);
        this.#list.append(row.element);
      }
      this.#place(row, index, count);
      this.#fill(row, device);
    }
    for (const [id, row] of this.#rows) {
      if (inView.has(id)) continue;
      row.element.remove();
      this.#rows.delete(id);
    }
  }

  #place(row: Row, index: number, count: number): void {
    const element = row.element;
    if (row.index !== index) {
      row.index = index;
      element.style.transform = `translateY(${index * ROW_HEIGHT_PX}px)`;
      element.setAttribute('aria-posinset', String(index + 1));
    }
    element.setAttribute('aria-setsize', String(count));
  }

  #fill(row: Row, device: Device): void {
    const selected = device.device_id === this.#selectedId;
    const seen =
      (device.connected
        ? `connected · seen ${ago(device.last_seen, this.#nowMs)}`
        : `offline · last seen ${ago(device.last_seen, this.#nowMs)}`) +
      (device.update ? ` · ${updateText(device.update)}` : '');
    const facts: [string, string | null][] = [
      ['os', device.os],
      ['model', device.model ?? device.arch],
      ['host', device.hostname],
    ];
    const shown = JSON.stringify([device, selected, seen]);
    if (shown === row.shown) return;
    row.shown = shown;
    const element = row.element;
    element.className = `device${selected ? ' selected' : ''}`;
    element.dataset['deviceId'] = device.device_id;
    element.dataset['connected'] = String(device.connected);
    element.setAttribute('aria-pressed', String(selected));
    element.replaceChildren(
      h(
        'div',
        { class: 'device-head' },
        h('span', {
          class: `dot ${device.connected ? 'online' : 'offline'}`,
          title: device.connected ? 'connected' : 'offline',
        }),
        h('span', { class: 'device-id', title: device.device_id }, device.device_id),
        h('span', { class: 'fact-agent', title: 'agent version' }, device.agent_version ?? ''),
      ),
      h('div', { class: 'device-seen', title: seen }, seen),
      h(
        'dl',
        { class: 'device-facts' },
        ...facts.flatMap(([label, value]) =>
          value === null ? [] : [h('dt', {}, label), h('dd', { class: `fact-${label}` }, value)],
        ),
      ),
    );
  }

  #selectFrom(target: EventTarget | null): void {
    const row = target instanceof Element ? target.closest<HTMLElement>('.device') : null;
    const deviceId = row?.dataset['deviceId'];
    if (deviceId !== undefined) this.#onSelect(deviceId);
  }
}

function within<T extends HTMLElement>(root: HTMLElement, selector: string): T {
  const element = root.querySelector<T>(selector);
  if (!element) throw new Error(`the device list has no ${selector}`);
  return element;
}

const number = (n: number): string => n.toLocaleString('en-US');
