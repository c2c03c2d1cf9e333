import type { ParsedFrame } from '../protocol/parse.js';
import type {
  ClientTelemetryPayload,
  CommandDonePayload,
  CommandOutputPayload,
} from '../protocol/to-client.js';
import type { ByteFrame } from '../protocol/byte-frame.js';
import { Banner } from './banner.js';
import { openBrowserSocket } from './browser-socket.js';
import { DeviceList } from './device-list.js';
import { offeredStreams, offersShell, parseDevices, type Device } from './devices.js';
import { byId } from './dom.js';
import { takeSessionFromFragment } from './session-fragment.js';
import { KeyPrompt } from './key-prompt.js';
import { SessionKeeper } from './session-keeper.js';
import { SettingsPanel } from './settings-panel.js';
import { SignIn } from './sign-in.js';
import { StreamClient, type ConnectionStatus } from './stream-client.js';
import { CommandPane } from './command-pane.js';
import { FileDownload } from './file-download.js';
import type { TransferTransport } from './file-transfer.js';
import { FileUpload } from './file-upload.js';
import { FilesPane } from './files-pane.js';
import { PanelTabs } from './panel-tabs.js';
import { ShellSession } from './shell-session.js';
import { UpdatePanel } from './update-panel.js';
import { UpdatesApi } from './updates-api.js';
import { ShellView } from './shell-view.js';
import { TelemetryCharts } from './telemetry-charts.js';
import { DEVICES_REFRESH_MEASURE, recordTiming } from './timing.js';
import { WebhooksApi } from './webhooks-api.js';
import { WebhooksPanel } from './webhooks-panel.js';

/**
 * The console page: wires the session, the `/v1/stream` connection and the views. It is a
 * client of the platform API like any backend: `GET /v1/devices` for the list, `subscribe`
 * for the selected device's charts, a shell session (`session_open`, bytes both ways) for the
 * terminal's Shell tab, `command`/`command_cancel` for its One command tab, and `file_put` /
 * `file_get` sessions for its Files tab (one transfer at a time, cancelled with the selection).
 *
 * The Shell tab opens a session by itself once per selected device (when the device is online
 * and the hub connected); after it ends, Enter or "New session" opens another. Selecting
 * another device closes the session.
 */
export const DEVICE_POLL_MS = 5_000;
/** How often the charts ask the device to sample (the agent's minimum is 1 s by default). */
export const CHART_INTERVAL_MS = 1_000;

export class ConsoleApp {
  readonly #sessions: SessionKeeper;
  readonly #client: StreamClient;
  readonly #banner: Banner;
  readonly #signIn: SignIn;
  readonly #list: DeviceList;
  readonly #charts: TelemetryCharts;
  readonly #commandPane: CommandPane;
  readonly #shellView: ShellView;
  readonly #updates: UpdatePanel;
  readonly #shell: ShellSession;
  readonly #tabs: PanelTabs;
  readonly #filesPane: FilesPane;
  readonly #upload: FileUpload;
  readonly #download: FileDownload;
  /** The device the Shell tab last opened a session on by itself (once per selection). */
  #shellOpenedFor: string | null = null;
  /** What the line above the terminal last said of the session (opening, open, how it ended). */
  #shellNote = '';
  readonly #title: HTMLElement;
  readonly #notice: HTMLElement;
  #devices: Device[] = [];
  #selected: string | null = null;
  #shownStreams = '';
  /** The selected device's subscription: its request, then its id once `subscribed`. */
  #subscription: { requestId: string; deviceId: string; id: string | null } | null = null;
  #command: { requestId: string } | null = null;
  #nextId = 1;
  #poll: ReturnType<typeof setTimeout> | null = null;

  constructor() {
    const origin = window.location.origin;
    this.#sessions = new SessionKeeper({
      baseUrl: origin,
      fetch: (url, init) => fetch(url, { ...init, cache: 'no-store' }),
      now: () => Date.now(),
    });
    this.#client = new StreamClient({
      streamUrl: `${origin.replace(/^http/, 'ws')}/v1/stream`,
      sessions: this.#sessions,
      createSocket: openBrowserSocket,
      timers: {
        setTimeout: (fn, ms) => setTimeout(fn, ms),
        clearTimeout: (t) => clearTimeout(t as number),
      },
      now: () => Date.now(),
      random: Math.random,
      onStatus: (status) => this.#onStatus(status),
      onFrame: (frame) => this.#onFrame(frame),
      onBytes: (frame) => this.#onBytes(frame),
    });
    this.#banner = new Banner(byId('banner'), () => this.#client.start());
    this.#signIn = new SignIn(byId('sign-in'), async (apiKey) => {
      await this.#sessions.signIn(apiKey);
      this.#signedIn();
    });
    this.#list = new DeviceList(byId('device-browser'), (id) => this.#select(id));
    this.#charts = new TelemetryCharts(byId('charts'));
    this.#commandPane = new CommandPane(byId('command-pane'), {
      run: (command, timeoutS) => this.#run(command, timeoutS),
      cancel: () => this.#cancelCommand(),
    });
    this.#shell = new ShellSession(
      {
        send: (message) => this.#client.send(message),
        sendBytes: (frame) => this.#client.sendBytes(frame),
      },
      {
        output: (bytes) => this.#shellView.write(bytes),
        opened: ({ tty }) => this.#showShellState(tty ? `session on ${tty}` : 'session open'),
        ended: (text, ok) => {
          this.#shellView.note(`session ended: ${text}`, ok ? 'ok' : 'bad');
          this.#showShellState(`ended: ${text} · press Enter for a new session`);
        },
      },
      () => this.#nextId++,
    );
    this.#shellView = new ShellView(byId('shell'), {
      keys: (text) => {
        if (this.#shell.active) this.#shell.type(text);
        else if (text === '\r') this.#newShell();
      },
      binary: (bytes) => this.#shell.input(bytes),
      resized: (rows, cols) => this.#shell.resize(rows, cols),
      newSession: () => this.#newShell(),
    });
    const transfers: TransferTransport = {
      send: (message) => this.#client.send(message),
      sendBytes: (frame) => this.#client.sendBytes(frame),
    };
    this.#upload = new FileUpload(
      transfers,
      {
        progress: (p) => this.#filesPane.progress(p),
        ended: (result) => this.#filesPane.ended(result),
      },
      () => this.#nextId++,
    );
    this.#download = new FileDownload(
      transfers,
      {
        progress: (p) => this.#filesPane.progress(p),
        file: (parts, info) => this.#filesPane.save(parts, info),
        ended: (result) => this.#filesPane.ended(result),
      },
      () => this.#nextId++,
    );
    this.#filesPane = new FilesPane(byId('files-pane'), {
      upload: (source, path, mode) => {
        const device = this.#device();
        if (!device || this.#download.active) return false;
        return this.#upload.start({ deviceId: device.device_id, path, mode }, source);
      },
      download: (path) => {
        const device = this.#device();
        if (!device || this.#upload.active) return false;
        return this.#download.start(device.device_id, path);
      },
      cancel: () => {
        this.#upload.cancel();
        this.#download.cancel();
      },
    });
    this.#tabs = new PanelTabs(byId('terminal'), (tab) => {
      if (tab !== 'shell') return;
      this.#shellView.fit();
      this.#openShellOnce();
      this.#shellView.focus();
    });
    this.#title = byId('device-title');
    this.#notice = byId('device-notice');
    const keys = new KeyPrompt(document.body);
    const webhooks = new WebhooksPanel({
      api: new WebhooksApi({
        baseUrl: origin,
        fetch: (url, init) => fetch(url, { ...init, cache: 'no-store' }),
        sessionAuthorization: async () => {
          await this.#sessions.token(); // renewed first if it is about to run out
          return this.#sessions.authorization();
        },
      }),
      keys,
    });
    new SettingsPanel(byId('settings-panel'), byId('settings'), webhooks);
    this.#updates = new UpdatePanel(
      byId('device-update'),
      new UpdatesApi({
        baseUrl: origin,
        fetch: (url, init) => fetch(url, { ...init, cache: 'no-store' }),
        sessionAuthorization: async () => {
          await this.#sessions.token();
          return this.#sessions.authorization();
        },
      }),
      keys,
    );
    byId('sign-out').addEventListener('click', () => {
      this.#sessions.signOut();
      window.location.reload();
    });
  }

  async start(): Promise<void> {
    const { token, rest } = takeSessionFromFragment(window.location.hash);
    if (token !== null) {
      // Out of the address bar before anything else: not in history, bookmarks or screenshots.
      history.replaceState(null, '', `${window.location.pathname}${window.location.search}${rest}`);
      try {
        await this.#sessions.adopt(token);
        this.#signedIn();
        return;
      } catch (err) {
        this.#signIn.ask(
          `The sign-in link did not work (${(err as Error).message}): enter the API key.`,
        );
        return;
      }
    }
    this.#signIn.ask('Enter the API key of this hub. It stays in this tab’s memory only.');
  }

  #signedIn(): void {
    this.#signIn.hide();
    this.#client.start();
    void this.#refreshDevices();
  }

  #onStatus(status: ConnectionStatus): void {
    this.#banner.show(status);
    document.body.dataset['connection'] = status.kind;
    if (status.kind === 'open') {
      this.#subscription = null;
      this.#subscribeSelected();
      this.#openShellOnce();
      void this.#refreshDevices();
      return;
    }
    // The hub ends a client's subscriptions, sessions and commands when it disconnects.
    this.#subscription = null;
    this.#shell.connectionLost();
    this.#showShellState();
    this.#upload.connectionLost();
    this.#download.connectionLost();
    if (this.#command) {
      this.#command = null;
      this.#commandPane.failed(
        'connection_lost',
        'the hub connection dropped; the hub cancels the command',
      );
    }
    if (status.kind === 'signed_out') this.#askAgain(status.expired);
  }

  #askAgain(expired: boolean): void {
    this.#signIn.ask(
      expired
        ? 'Your session expired: enter the API key again.'
        : 'Enter the API key of this hub. It stays in this tab’s memory only.',
    );
  }

  async #refreshDevices(): Promise<void> {
    if (this.#poll !== null) clearTimeout(this.#poll);
    this.#poll = null;
    if (!this.#sessions.signedIn) return;
    try {
      const res = await fetch(`${window.location.origin}/v1/devices`, {
        headers: this.#sessions.authorization(),
        cache: 'no-store',
      });
      if (res.status === 401) {
        const recovery = await this.#sessions.recover();
        if (recovery === 'ask') return this.#askAgain(this.#sessions.expired);
        if (recovery === 'renewed') return void this.#refreshDevices();
      } else if (res.ok) {
        const body = await res.text();
        const started = performance.now();
        this.#devices = parseDevices(JSON.parse(body));
        this.#renderDevices();
        recordTiming(DEVICES_REFRESH_MEASURE, started);
      }
    } catch {
      // The hub is down: the banner says so; the next poll tries again.
    }
    this.#poll = setTimeout(() => void this.#refreshDevices(), DEVICE_POLL_MS);
  }

  #renderDevices(): void {
    if (this.#selected === null || !this.#devices.some((d) => d.device_id === this.#selected)) {
      const first = this.#devices.find((d) => d.connected) ?? this.#devices[0];
      if (first) this.#select(first.device_id);
    }
    this.#list.render(this.#devices, this.#selected, Date.now());
    const device = this.#device();
    this.#updates.show(device);
    if (!device) return;
    this.#commandPane.setTarget(device.device_id, device.connected);
    this.#filesPane.setTarget(device.device_id, device.connected);
    this.#openShellOnce();
    if (!this.#shell.active) this.#showShellState();
    this.#notice.textContent = device.connected
      ? ''
      : 'offline: charts resume and commands can run when it reconnects';
    // Streams become known with the device's hello: lay the charts out again if they changed.
    const streams = offeredStreams(device);
    if (streams.join(',') !== this.#shownStreams) {
      this.#shownStreams = streams.join(',');
      this.#charts.show(streams);
      this.#unsubscribe();
      this.#subscribeSelected();
    }
  }

  #select(deviceId: string): void {
    if (deviceId === this.#selected) return;
    this.#unsubscribe();
    this.#shell.close();
    this.#shellView.reset();
    this.#upload.cancel();
    this.#download.cancel();
    this.#filesPane.reset();
    this.#shellOpenedFor = null;
    this.#shellNote = '';
    this.#selected = deviceId;
    this.#shownStreams = '';
    this.#title.textContent = deviceId;
    this.#renderDevices();
  }

  #device(): Device | undefined {
    return this.#devices.find((d) => d.device_id === this.#selected);
  }

  /** The Shell tab's session for the selected device, opened once per selection. */
  #openShellOnce(): void {
    const device = this.#device();
    if (!device || this.#shellOpenedFor === device.device_id) return;
    if (this.#openShell(device)) this.#shellOpenedFor = device.device_id;
  }

  #newShell(): void {
    const device = this.#device();
    if (!device || !this.#shellPossible(device)) return;
    this.#shell.close();
    this.#shellView.reset();
    this.#openShell(device);
    this.#shellView.focus();
  }

  #shellPossible(device: Device): boolean {
    return (
      this.#tabs.current === 'shell' &&
      this.#client.status.kind === 'open' &&
      device.connected &&
      offersShell(device)
    );
  }

  #openShell(device: Device): boolean {
    if (!this.#shellPossible(device) || this.#shell.active) return false;
    this.#shellView.fit();
    const opened = this.#shell.open(device.device_id, this.#shellView.rows, this.#shellView.cols);
    if (opened) this.#showShellState('opening a shell…');
    return opened;
  }

  /** The line above the terminal: the session's state, or why none can open. */
  #showShellState(state?: string): void {
    const device = this.#device();
    const connected = this.#client.status.kind === 'open';
    if (state !== undefined) this.#shellNote = state;
    const canOpen = connected && device?.connected === true && offersShell(device);
    let text = this.#shellNote;
    if (!device) text = 'no device selected';
    else if (!connected) text = 'not connected to the hub';
    else if (!device.connected) text = 'offline';
    else if (!offersShell(device))
      text = 'no shell sessions here (shell.enabled or commands.enabled is off, or an older agent)';
    else if (text === '' && !this.#shell.active) text = 'no session: press Enter or New session';
    this.#shellView.setStatus(device ? `${device.device_id} · ${text}` : text, canOpen);
  }

  #onBytes(frame: ByteFrame): void {
    this.#shell.onBytes(frame);
    this.#download.onBytes(frame);
  }

  #subscribeSelected(): void {
    const device = this.#device();
    if (!device || this.#subscription !== null) return;
    const requestId = `sub-${this.#nextId++}`;
    const sent = this.#client.send({
      type: 'subscribe',
      request_id: requestId,
      payload: {
        device_id: device.device_id,
        streams: offeredStreams(device),
        interval_ms: CHART_INTERVAL_MS,
      },
    });
    if (sent) this.#subscription = { requestId, deviceId: device.device_id, id: null };
  }

  #unsubscribe(): void {
    const id = this.#subscription?.id;
    this.#subscription = null;
    if (id)
      this.#client.send({
        type: 'unsubscribe',
        request_id: `unsub-${this.#nextId++}`,
        payload: { subscription_id: id },
      });
  }

  #run(command: string, timeoutS: number | undefined): boolean {
    const device = this.#device();
    if (!device || this.#command) return false;
    const requestId = `cmd-${this.#nextId++}`;
    const payload: Record<string, unknown> = {
      device_id: device.device_id,
      command,
      stream_output: true,
    };
    if (timeoutS !== undefined) payload['timeout_s'] = timeoutS;
    if (!this.#client.send({ type: 'command', request_id: requestId, payload })) return false;
    this.#command = { requestId };
    this.#commandPane.started(command);
    return true;
  }

  #cancelCommand(): void {
    if (!this.#command) return;
    const requestId = this.#command.requestId;
    this.#client.send({
      type: 'command_cancel',
      request_id: `cancel-${requestId}`,
      payload: { request_id: requestId },
    });
  }

  #onFrame(frame: ParsedFrame): void {
    if (this.#shell.onFrame(frame)) return;
    if (this.#upload.onFrame(frame) || this.#download.onFrame(frame)) return;
    const requestId = frame.request_id;
    switch (frame.type) {
      case 'update_state': {
        // Progress between two polls of the list: the device's row and header follow it.
        const view = frame.payload as unknown as NonNullable<Device['update']>;
        const device = this.#devices.find((d) => d.device_id === view.device_id);
        if (!device) return;
        device.update = { ...(device.update ?? view), ...view };
        this.#renderDevices();
        return;
      }
      case 'telemetry': {
        const t = frame.payload as ClientTelemetryPayload;
        if (this.#subscription?.id !== t.subscription_id) return;
        this.#charts.add(t.stream, Date.parse(t.ts), t.value);
        return;
      }
      case 'subscribed': {
        const id = frame.payload['subscription_id'] as string;
        const pending = this.#subscription;
        if (pending !== null && pending.requestId === requestId) pending.id = id;
        // A subscription for a device no longer selected: end it at once.
        else
          this.#client.send({
            type: 'unsubscribe',
            request_id: `unsub-${this.#nextId++}`,
            payload: { subscription_id: id },
          });
        return;
      }
      case 'command_output':
        if (this.#command?.requestId === requestId)
          this.#commandPane.output(frame.payload as CommandOutputPayload);
        return;
      case 'command_done':
        if (this.#command?.requestId !== requestId) return;
        this.#command = null;
        this.#commandPane.done(frame.payload as CommandDonePayload);
        return;
      case 'error': {
        const { code, message } = frame.payload as { code: string; message?: string };
        if (this.#command && this.#command.requestId === requestId) {
          this.#command = null;
          this.#commandPane.failed(code, message ?? '');
        } else if (requestId !== undefined && requestId === `cancel-${this.#command?.requestId}`) {
          // The command ended before the cancel arrived: its command_done says how.
        } else if (this.#subscription?.requestId === requestId) {
          this.#subscription = null;
          this.#notice.textContent = `charts unavailable: ${code}${message ? `: ${message}` : ''}`;
        }
        return;
      }
    }
  }
}
