import { MAX_DOWNLOAD_BYTES } from './file-download.js';
import { TransferError, type TransferProgress, type TransferResult } from './file-transfer.js';
import type { FileSource } from './file-upload.js';
import { h } from './dom.js';
import './files-pane.css';

/**
 * The "Files" pane (beside Shell and One command): upload a file picked in the browser to a path
 * on the selected device, or download a file of the device. One transfer at a time, with a
 * progress bar, Cancel, and the result: the sha256 both ends agree on, or the error code and
 * message. A finished download is saved at once through a Blob link, which stays as "Save
 * again" until the next transfer or device (then its memory is released). The transfers
 * themselves are file-upload.ts and file-download.ts; this is only the page around them.
 *
 * The pane's `data-state` is `idle`, `running`, `ok` or `failed` (for people and tests alike).
 */
export interface FilesPaneActions {
  /** Starts an upload; false when it could not start (busy). */
  upload(source: FileSource, path: string, mode: number | undefined): boolean;
  /** Starts a download; false when it was not sent (busy, not connected). */
  download(path: string): boolean;
  cancel(): void;
}

/** The longest path the contract allows in `session_open`. */
export const MAX_PATH_CHARS = 4096;

export class FilesPane {
  readonly #root: HTMLElement;
  readonly #file: HTMLInputElement;
  readonly #uploadPath: HTMLInputElement;
  readonly #mode: HTMLInputElement;
  readonly #uploadButton: HTMLButtonElement;
  readonly #downloadPath: HTMLInputElement;
  readonly #downloadButton: HTMLButtonElement;
  readonly #bar: HTMLProgressElement;
  readonly #status: HTMLElement;
  readonly #cancel: HTMLButtonElement;
  readonly #result: HTMLElement;
  #online = false;
  #running = false;
  #label = '';
  #url: string | null = null;

  constructor(root: HTMLElement, actions: FilesPaneActions) {
    this.#root = root;
    const q = <T extends HTMLElement>(selector: string) => root.querySelector(selector) as T;
    this.#file = q('#upload-file');
    this.#uploadPath = q('#upload-path');
    this.#mode = q('#upload-mode');
    this.#uploadButton = q('#upload-start');
    this.#downloadPath = q('#download-path');
    this.#downloadButton = q('#download-start');
    this.#bar = q('#files-progress');
    this.#status = q('#files-status');
    this.#cancel = q('#files-cancel');
    this.#result = q('#files-result');
    q<HTMLFormElement>('#upload-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.#startUpload(actions);
    });
    q<HTMLFormElement>('#download-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.#startDownload(actions);
    });
    this.#cancel.addEventListener('click', () => {
      if (this.#running) actions.cancel();
    });
    q('.files-note').textContent = DOWNLOAD_NOTE;
    this.#root.dataset['state'] = 'idle';
    this.setTarget(null, false);
  }

  /** Which device transfers go to; the buttons are off without one that is online. */
  setTarget(deviceId: string | null, online: boolean): void {
    this.#online = deviceId !== null && online;
    this.#uploadPath.placeholder = deviceId ? `path on ${deviceId}, e.g. /tmp/` : 'select a device';
    this.#downloadPath.placeholder = deviceId
      ? `path on ${deviceId}, e.g. /var/log/syslog`
      : 'select a device';
    this.#buttons();
  }

  /** Another device was picked: the last result and its saved file go. */
  reset(): void {
    this.#release();
    this.#result.replaceChildren();
    this.#status.textContent = '';
    this.#bar.value = 0;
    this.#root.dataset['state'] = 'idle';
  }

  progress(p: TransferProgress): void {
    const total = p.total ?? 0;
    this.#bar.max = Math.max(total, 1);
    this.#bar.value = p.total === 0 ? 1 : p.done;
    const of = p.total === null ? '' : ` / ${size(p.total)}`;
    const percent = p.total ? ` (${Math.floor((p.done / p.total) * 100)} %)` : '';
    this.#status.textContent = `${this.#label} · ${PHASES[p.phase]} ${size(p.done)}${of}${percent}`;
  }

  /** The finished download: saved at once, the link kept for "Save again". */
  save(parts: Uint8Array[], info: { name: string; size: number }): void {
    this.#release();
    const blob = new Blob(parts as BlobPart[], { type: 'application/octet-stream' });
    this.#url = URL.createObjectURL(blob);
    const link = h(
      'a',
      { href: this.#url, download: info.name, class: 'files-save' },
      `Save ${info.name} again (${size(info.size)})`,
    );
    this.#result.replaceChildren(link);
    link.click();
  }

  ended(result: TransferResult): void {
    this.#running = false;
    this.#buttons();
    this.#root.dataset['state'] = result.ok ? 'ok' : 'failed';
    const line = result.ok
      ? `${this.#label}: done, ${size(result.bytes)}, sha256 ${result.sha256} verified`
      : `${this.#label}: ${result.code}${result.message ? `: ${result.message}` : ''}`;
    this.#status.textContent = '';
    this.#result.prepend(
      h('span', { class: `files-outcome ${result.ok ? 'ok' : 'failed'}` }, line),
      ' ',
    );
  }

  #startUpload(actions: FilesPaneActions): void {
    const file = this.#file.files?.[0];
    if (!file) return this.#refuse('Upload: pick a file first.');
    let path = this.#uploadPath.value.trim();
    // A directory (ending in /) gets the file's own name.
    if (path.endsWith('/')) path += file.name;
    const problem = pathProblem(path);
    if (problem) return this.#refuse(`Upload: ${problem}`);
    const modeText = this.#mode.value.trim();
    if (modeText !== '' && !/^0?[0-7]{1,4}$/.test(modeText))
      return this.#refuse('Upload: the mode is octal permission bits, e.g. 644 or 0755.');
    const mode = modeText === '' ? undefined : parseInt(modeText, 8);
    this.#begin(`upload ${file.name} → ${path}`);
    const source: FileSource = {
      size: file.size,
      read: async (offset, length) =>
        new Uint8Array(await file.slice(offset, offset + length).arrayBuffer()),
    };
    if (!actions.upload(source, path, mode)) this.#notStarted();
  }

  #startDownload(actions: FilesPaneActions): void {
    const path = this.#downloadPath.value.trim();
    const problem = pathProblem(path);
    if (problem) return this.#refuse(`Download: ${problem}`);
    this.#begin(`download ${path}`);
    if (!actions.download(path)) this.#notStarted();
  }

  #begin(label: string): void {
    this.reset();
    this.#label = label;
    this.#running = true;
    this.#root.dataset['state'] = 'running';
    this.#buttons();
  }

  #notStarted(): void {
    this.ended({
      ok: false,
      code: TransferError.notSent,
      message: 'not connected to the hub, or busy',
    });
  }

  #refuse(text: string): void {
    this.#result.replaceChildren(h('span', { class: 'files-outcome failed' }, text));
  }

  #buttons(): void {
    this.#uploadButton.disabled = this.#running || !this.#online;
    this.#downloadButton.disabled = this.#running || !this.#online;
    this.#cancel.disabled = !this.#running;
  }

  #release(): void {
    if (this.#url !== null) URL.revokeObjectURL(this.#url);
    this.#url = null;
  }
}

const PHASES: Record<TransferProgress['phase'], string> = {
  hashing: 'reading for sha256',
  opening: 'opening',
  sending: 'written',
  receiving: 'received',
  verifying: 'verifying',
};

/** Why a path cannot be sent (the device checks the rest: files.allowPaths). */
function pathProblem(path: string): string | null {
  if (!path.startsWith('/')) return 'enter an absolute path on the device (starting with /).';
  if (path.length > MAX_PATH_CHARS) return `the path is longer than ${MAX_PATH_CHARS} characters.`;
  return null;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Shown under the pane: the download bound, in words. */
const DOWNLOAD_NOTE = `Downloads up to ${MAX_DOWNLOAD_BYTES / (1024 * 1024)} MiB (held in the page until saved); larger files: iottly-agent cp.`;
