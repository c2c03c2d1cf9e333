import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { ErrorCode } from '../protocol/error-codes.js';
import { MAX_FRAME_BYTES } from '../protocol/message.js';
import { systemClock, type Clock } from '../time/clock.js';
import { ApiKeys } from './auth.js';
import {
  DeviceCredentials,
  diffCredentials,
  type CredentialsChange,
} from './device-credentials.js';
import {
  Broker,
  DEFAULT_MAX_PUSH_BACK_MS,
  DEFAULT_MAX_REQUESTS_PER_CLIENT,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_CLIENT,
} from './broker.js';
import { CommandApi } from './command-api/command-api.js';
import {
  DEFAULT_COMMAND_RESULT_LIMITS,
  type CommandResultLimits,
} from './command-api/command-results.js';
import { KEY_OR_SESSION, authenticateClient, challenge, refusalMessage } from './client-auth.js';
import { ClientPeer } from './client-peer.js';
import { summary, type DeviceRecord } from './device-registry.js';
import { DeliveryCursors } from './delivery-cursors.js';
import { DeliveryJournal, nodeJournalFs, type JournalFs } from './delivery-journal.js';
import { DevicePeer } from './device-peer.js';
import { DEVICE_PATH, STREAM_PATH, createHttpApi, requestUrl } from './http-api.js';
import { rejectUpgrade } from './http-reply.js';
import { randomIds, uniqueId, type IdSource } from './ids.js';
import { SessionTokens } from './session-tokens.js';
import { folderSource, type FileSource } from './file-source.js';
import { StaticFiles, defaultConsoleDir } from './static-files.js';
import type { PeerStats } from './peer-socket.js';
import type { FrameError, ParsedFrame } from '../protocol/parse.js';
import type { Message } from '../protocol/message.js';
import type { StreamsChangedListener } from './subscriptions.js';
import { DEFAULT_POST_POLICY, type PostPolicy } from './webhooks/post-queue.js';
import { fetchPoster, type Poster } from './webhooks/http-poster.js';
import type { WebhookSpec } from './webhooks/webhook.js';
import { Webhooks } from './webhooks/webhooks.js';
import { CloseCode } from '../protocol/close-codes.js';
import { LogCode } from '../log/log-codes.js';
import { Fleet } from './fleet/fleet.js';
import type { FleetSettings } from './fleet/fleet-settings.js';
import { hubRequestIds, randomHubId } from './fleet/hub-id.js';
import type { ClientEvents, ClientLink, DeviceEvents } from './links.js';
import { ArtifactStore } from './updates/artifact-store.js';
import { DEFAULT_UPDATE_CONCURRENCY, UpdateManager } from './updates/update-manager.js';
import type { UpdateResultPayload } from '../protocol/update-session.js';
import type { TrustedKey } from '../protocol/update-signature.js';
import { SESSION_WINDOW_BYTES } from '../protocol/sessions.js';
import type { UpdateStateView } from '../protocol/updates.js';
import type { UpdateRequestPayload } from '../protocol/update-request.js';
import { join } from 'node:path';

/**
 * The reference hub: the cloud side an agent talks to, in one process and in memory, for
 * development, demos and tests.
 *
 *     GET  /healthz      liveness probe
 *     GET  /v1/devices   known devices (API key or session token)
 *     POST /v1/session   API key → short-lived session token, for browsers
 *     /v1/webhooks       GET, POST, DELETE /{id} (API key): every device message is POSTed to them
 *     POST /v1/devices/{id}/commands, …/app-commands, GET and DELETE /v1/commands/{id}
 *                        the Command API (API key): commands over REST, results kept by id
 *     WS   /v1/device    agents (device token)
 *     WS   /v1/stream    the platform's backend API (API key or session token)
 *     GET  /             the console (a single page; a client of /v1/stream like any other)
 *
 * Lifecycle: idle ─start()─▶ listening ─stop()─▶ stopping ─▶ stopped. Credentials are checked
 * before the upgrade completes: a refused peer gets an HTTP 401 and never an open WebSocket.
 * `stop()` closes every WebSocket with 1001 "server restart" (terminating those that do not
 * finish within `closeTimeoutMs`), then the HTTP server.
 */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 0;
export const DEFAULT_PING_INTERVAL_MS = 30_000;
export const DEFAULT_PONG_TIMEOUT_MS = 10_000;
export const DEFAULT_CLOSE_TIMEOUT_MS = 1_000;
/** A command's route outlives its device's link this long (the agent resends what it owes). */
export const DEFAULT_REQUEST_GRACE_MS = 30_000;
/** Acks to a device are batched: at most one per this many ms (five a second). */
export const DEFAULT_ACK_INTERVAL_MS = 200;
/** An agent sends hello as soon as its socket opens; 10 s allows for a very slow link. */
export const DEFAULT_HELLO_TIMEOUT_MS = 10_000;

/**
 * A peer's send queue at which it counts as backed up: telemetry for a client is dropped, a
 * device gets no more requests, a device whose output goes to the client is paused.
 */
export const DEFAULT_PEER_HIGH_WATER_BYTES = 1024 * 1024;
/** A peer whose send queue would pass this is closed with 4008 (slow consumer). */
export const DEFAULT_PEER_QUEUE_LIMIT_BYTES = 8 * 1024 * 1024;

export interface HubOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** TCP port; 0 (the default) takes any free one, see `start()`. */
  port?: number;
  /** Keys accepted on `/v1/stream` and `/v1/devices`. */
  apiKeys: readonly string[];
  /**
   * The devices allowed on `/v1/device`: id → token, or a DeviceCredentials set (digests only,
   * from `--device-tokens FILE`); replaced while running with `replaceDeviceCredentials`.
   */
  deviceTokens: ReadonlyMap<string, string> | DeviceCredentials;
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /** How long a graceful WebSocket close may take before the socket is terminated. */
  closeTimeoutMs?: number;
  /**
   * Directory for the per-device delivery cursors, so that a restarted hub (even after SIGKILL)
   * still processes each agent seq once. Without it they live in memory.
   */
  stateDir?: string;
  /** The journal's file operations in `stateDir` (node:fs by default). */
  journalFs?: JournalFs;
  ackIntervalMs?: number;
  /** How long an authenticated device link may wait without `hello` before it is closed. */
  helloTimeoutMs?: number;
  /** How long a running command survives its device's disconnect (0: device_offline at once). */
  requestGraceMs?: number;
  /** Send-queue bytes at which a peer counts as backed up (default 1 MiB). */
  peerHighWaterBytes?: number;
  /**
   * Send-queue bytes a peer may never pass: it is closed with 4008 instead (default 8 MiB; at
   * least the high-water mark plus one frame).
   */
  peerQueueLimitBytes?: number;
  /** How long a stream client that does not read may hold a device's output paused. */
  maxPushBackMs?: number;
  /** Subscriptions one stream client may hold (default 100). */
  maxSubscriptionsPerClient?: number;
  /** Requests one stream client may have waiting for devices (default 256). */
  maxRequestsPerClient?: number;
  /** Lifetime of the session tokens `POST /v1/session` issues (default 15 min). */
  sessionTtlMs?: number;
  /** The built console to serve at `/` (default `dist/console/`); null serves none. */
  consoleDir?: string | null;
  /** The console's files from elsewhere than a folder (a binary's assets); wins over consoleDir. */
  consoleFiles?: FileSource;
  /** Serve https/wss instead of http/ws. */
  tls?: { cert: Buffer; key: Buffer };
  logger: Logger;
  clock?: Clock;
  ids?: IdSource;
  /** Webhooks to start with (`--webhooks FILE`); each is validated as POST /v1/webhooks does. */
  webhooks?: readonly WebhookSpec[];
  /** Retries, timeout and queue bound of webhook deliveries. */
  webhookPolicy?: Partial<PostPolicy>;
  /** How webhook requests are sent (fetch by default). */
  post?: Poster;
  /** Bounds of the Command API's result store (count, bytes, expiry, output per command). */
  commandResults?: Partial<CommandResultLimits>;
  random?: () => number;
  /**
   * Serve the devices of an MQTT broker (`hub --broker`): any number of hubs on one broker
   * serve one fleet. `/v1/device` is then refused (404): an agent reaches this hub through the
   * broker only, so that every hub sees every device the same way.
   */
  fleet?: FleetSettings;
  /**
   * Where agent artifacts are kept (`--artifacts DIR`); by default `<stateDir>/artifacts` when
   * `stateDir` is set, else none (null: none either way). See updates/artifact-store.ts.
   */
  artifactsDir?: string | null;
  /** Largest artifact upload (default 256 MiB). */
  artifactMaxBytes?: number;
  /** Devices downloading an update at once (default 4). */
  updateConcurrency?: number;
  /** Uploads signed by none of these keys are refused (`--update-key`; empty: any signer). */
  updateKeys?: readonly TrustedKey[];
}

export type HubState = 'idle' | 'starting' | 'listening' | 'stopping' | 'stopped';

interface Peer {
  close(code: number, reason: string): Promise<void>;
  stats(): PeerStats;
}

export class Hub {
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #ids: IdSource;
  readonly #host: string;
  readonly #port: number;
  readonly #timing: { pingIntervalMs: number; pongTimeoutMs: number; closeTimeoutMs: number };
  readonly #sendBounds: { highWaterBytes: number; queueLimitBytes: number };
  readonly #tls: boolean;
  readonly #apiKeys: ApiKeys;
  readonly #sessionTokens: SessionTokens;
  readonly #staticFiles: StaticFiles;
  #credentials: DeviceCredentials;
  readonly #broker: Broker;
  readonly #cursors: DeliveryCursors;
  readonly #ackIntervalMs: number;
  readonly #helloTimeoutMs: number;
  readonly #webhooks: Webhooks;
  readonly #commandApi: CommandApi;
  readonly #fleet: Fleet | null;
  readonly #artifacts: ArtifactStore | null;
  readonly #updates: UpdateManager | null;
  /** The broker's events as the peers report them, with the update manager's share taken out. */
  readonly #deviceEvents: DeviceEvents;
  readonly #clientEvents: ClientEvents;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #peers = new Set<Peer>();
  readonly #clientIds = new Set<string>();
  #state: HubState = 'idle';
  #starting: Promise<unknown> | null = null;
  #stopping: Promise<void> | null = null;

  constructor(options: HubOptions) {
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#ids = options.ids ?? randomIds;
    this.#host = options.host ?? DEFAULT_HOST;
    this.#port = options.port ?? DEFAULT_PORT;
    this.#timing = {
      pingIntervalMs: positive(
        'pingIntervalMs',
        options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
      ),
      pongTimeoutMs: positive('pongTimeoutMs', options.pongTimeoutMs ?? DEFAULT_PONG_TIMEOUT_MS),
      closeTimeoutMs: positive(
        'closeTimeoutMs',
        options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS,
      ),
    };
    this.#sendBounds = sendBounds(
      options.peerHighWaterBytes ?? DEFAULT_PEER_HIGH_WATER_BYTES,
      options.peerQueueLimitBytes ?? DEFAULT_PEER_QUEUE_LIMIT_BYTES,
    );
    if (!Number.isInteger(this.#port) || this.#port < 0 || this.#port > 65_535) {
      throw new RangeError(`port: expected an integer in [0, 65535], got ${this.#port}`);
    }
    this.#ackIntervalMs = positive(
      'ackIntervalMs',
      options.ackIntervalMs ?? DEFAULT_ACK_INTERVAL_MS,
    );
    this.#helloTimeoutMs = positive(
      'helloTimeoutMs',
      options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS,
    );
    this.#cursors = new DeliveryCursors(
      options.stateDir !== undefined
        ? new DeliveryJournal(options.stateDir, options.journalFs ?? nodeJournalFs)
        : null,
    );
    this.#apiKeys = new ApiKeys(options.apiKeys);
    this.#sessionTokens = new SessionTokens({
      apiKeys: options.apiKeys,
      clock: this.#clock,
      ...(options.sessionTtlMs !== undefined ? { ttlMs: options.sessionTtlMs } : {}),
    });
    this.#credentials =
      options.deviceTokens instanceof DeviceCredentials
        ? options.deviceTokens
        : DeviceCredentials.fromTokens(options.deviceTokens);
    this.#webhooks = new Webhooks({
      policy: { ...DEFAULT_POST_POLICY, ...options.webhookPolicy },
      post: options.post ?? fetchPoster,
      clock: this.#clock,
      random: options.random ?? Math.random,
      ids: this.#ids,
      logger: this.#logger,
    });
    for (const spec of options.webhooks ?? []) this.#webhooks.add(spec);
    const postMessage = (deviceId: string, frame: ParsedFrame): void =>
      this.#webhooks.post(deviceId, frame);
    const hubId = options.fleet ? (options.fleet.hubId ?? randomHubId()) : null;
    this.#broker = new Broker({
      knownDeviceIds: this.#credentials.deviceIds(),
      clock: this.#clock,
      logger: this.#logger,
      ids: this.#ids,
      // On an MQTT broker: request ids name this hub (every hub sees every reply, the one holding
      // the id relays it), and the device's owner sends it the streams of every hub.
      ...(hubId !== null
        ? {
            requestIds: hubRequestIds(hubId, this.#ids),
            sendsDemand: false,
            ownsEveryRequest: false,
            whenHeard: (deviceId: string, heard: () => void) =>
              this.#fleet ? this.#fleet.whenHeard(deviceId, heard) : heard(),
          }
        : {}),
      requestGraceMs: options.requestGraceMs ?? DEFAULT_REQUEST_GRACE_MS,
      maxPushBackMs: positive('maxPushBackMs', options.maxPushBackMs ?? DEFAULT_MAX_PUSH_BACK_MS),
      maxSubscriptionsPerClient: count(
        'maxSubscriptionsPerClient',
        options.maxSubscriptionsPerClient ?? DEFAULT_MAX_SUBSCRIPTIONS_PER_CLIENT,
      ),
      maxRequestsPerClient: count(
        'maxRequestsPerClient',
        options.maxRequestsPerClient ?? DEFAULT_MAX_REQUESTS_PER_CLIENT,
      ),
      // On an MQTT broker the fleet posts, on the device's owner only: once across the hubs.
      ...(hubId === null ? { onDeviceMessage: postMessage } : {}),
    });
    this.#fleet =
      options.fleet && hubId !== null
        ? new Fleet({
            ...options.fleet,
            hubId,
            broker: this.#broker,
            clock: this.#clock,
            random: options.random ?? Math.random,
            logger: this.#logger,
            ackIntervalMs: this.#ackIntervalMs,
            highWaterBytes: this.#sendBounds.highWaterBytes,
            onDeviceMessage: postMessage,
            webhooks: this.#webhooks,
          })
        : null;
    this.#commandApi = new CommandApi({
      broker: this.#broker,
      clock: this.#clock,
      ids: this.#ids,
      logger: this.#logger,
      limits: commandResultLimits({ ...DEFAULT_COMMAND_RESULT_LIMITS, ...options.commandResults }),
      postResult: (msg) => this.#webhooks.postMessage(msg),
    });
    const artifactsDir =
      options.artifactsDir !== undefined
        ? options.artifactsDir
        : options.stateDir !== undefined
          ? join(options.stateDir, 'artifacts')
          : null;
    // Updates travel as binary frames on the device's own link: not through an MQTT broker.
    this.#artifacts =
      artifactsDir !== null && !options.fleet
        ? new ArtifactStore({
            dir: artifactsDir,
            now: () => this.#clock.date(),
            trustedKeys: options.updateKeys ?? [],
            ...(options.artifactMaxBytes !== undefined
              ? { maxBytes: count('artifactMaxBytes', options.artifactMaxBytes) }
              : {}),
          })
        : null;
    const broker = this.#broker;
    this.#updates = this.#artifacts
      ? new UpdateManager({
          broker,
          store: this.#artifacts,
          devices: {
            record: (id) => broker.devices.record(id),
            records: () => broker.devices.records(),
            online: (id) => broker.devices.onlineLink(id) !== null,
          },
          clock: this.#clock,
          logger: this.#logger.child({ component: 'updates' }),
          concurrency: count(
            'updateConcurrency',
            options.updateConcurrency ?? DEFAULT_UPDATE_CONCURRENCY,
          ),
          window: SESSION_WINDOW_BYTES,
          onState: (view) => this.#broadcastUpdate(view),
        })
      : null;
    const updates = this.#updates;
    this.#deviceEvents = {
      deviceAttached: (link) => broker.deviceAttached(link),
      deviceReady: (link, hello, seq) => {
        broker.deviceReady(link, hello, seq);
        updates?.deviceReady(link.deviceId, hello);
      },
      deviceSeen: (link) => broker.deviceSeen(link),
      deviceFrame: (link, frame) => {
        if (frame.type !== 'update_result') return broker.deviceFrame(link, frame);
        updates?.deviceResult(link.deviceId, frame.payload as UpdateResultPayload);
        postMessage(link.deviceId, frame);
      },
      deviceProcessed: (link, seq) => broker.deviceProcessed(link, seq),
      deviceBytes: (link, frame) => broker.deviceBytes(link, frame),
      deviceClosed: (link, code, reason) => broker.deviceClosed(link, code, reason),
    };
    this.#clientEvents = {
      clientAttached: (link) => broker.clientAttached(link),
      clientFrame: (link, frame) => {
        if (frame.type === 'update_request') return this.#updateRequest(link, frame);
        if (frame.type === 'session_open' && frame.payload.kind === 'update') {
          // Only the hub's update manager opens these (it is not a ClientPeer): a client asks
          // with update_request, so that what a device runs comes from the hub's artifacts.
          const error: FrameError = {
            code: ErrorCode.invalidPayload,
            message: 'session_open: kind "update" is opened by the hub; send update_request',
            type: frame.type,
          };
          if (frame.request_id !== undefined) error.request_id = frame.request_id;
          return link.refuse(error);
        }
        broker.clientFrame(link, frame);
      },
      clientBytes: (link, frame) => broker.clientBytes(link, frame),
      clientClosed: (link, code, reason) => broker.clientClosed(link, code, reason),
    };
    const { consoleDir, consoleFiles } = options;
    this.#staticFiles = new StaticFiles({
      source: () => {
        if (consoleFiles) return consoleFiles;
        const dir = consoleDir === undefined ? defaultConsoleDir() : consoleDir;
        return dir === null ? null : folderSource(dir);
      },
    });
    const api = createHttpApi({
      apiKeys: this.#apiKeys,
      sessions: this.#sessionTokens,
      staticFiles: this.#staticFiles,
      devices: () =>
        this.devices().map((record) =>
          summary(record, this.#updates?.state(record.device_id) ?? null),
        ),
      webhooks: this.#webhooks,
      commandApi: this.#commandApi,
      artifacts: this.#artifacts,
      updates: this.#updates,
      logger: this.#logger,
    });
    this.#tls = options.tls !== undefined;
    this.#server = options.tls
      ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, api)
      : createHttpServer(api);
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
    });
  }

  get state(): HubState {
    return this.#state;
  }

  /**
   * Reads what the hub keeps on disk (the delivery journal in `stateDir`, the console's files),
   * then listens; resolves with the base URL (`http://host:port`, or https with TLS) and the
   * port. A journal that cannot be opened rejects with the file system's error, before
   * listening: without it the hub could not keep its exactly-once promise across a restart.
   */
  start(): Promise<{ url: string; port: number }> {
    if (this.#state !== 'idle')
      return Promise.reject(new Error(`cannot start a hub that is ${this.#state}`));
    this.#state = 'starting';
    try {
      this.#cursors.restore();
      this.#staticFiles.load();
      this.#artifacts?.load();
    } catch (err) {
      this.#state = 'stopped';
      return Promise.reject(err as Error);
    }
    const starting = new Promise<{ url: string; port: number }>((resolve, reject) => {
      const onError = (err: Error): void => {
        this.#state = 'stopped';
        reject(err);
      };
      this.#server.once('error', onError);
      this.#server.listen(this.#port, this.#host, () => {
        this.#server.off('error', onError);
        this.#server.on('error', (err) => this.#logger.error({ err }, 'hub server error'));
        this.#state = 'listening';
        const { port } = this.#server.address() as AddressInfo;
        const url = `${this.#tls ? 'https' : 'http'}://${hostForUrl(this.#host)}:${port}`;
        this.#logger.info({ url }, 'hub listening');
        this.#fleet?.start();
        resolve({ url, port });
      });
    });
    this.#starting = starting;
    return starting;
  }

  /**
   * Closes every WebSocket with 1001 "server restart" and the HTTP server; bounded by
   * `closeTimeoutMs` for peers that do not finish the close handshake. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  /** Every known device (with a token, or ever connected), ordered by id. */
  devices(): DeviceRecord[] {
    return this.#broker.devices.records();
  }

  device(deviceId: string): DeviceRecord | undefined {
    return this.#broker.devices.record(deviceId);
  }

  /** Whether the console is served at `/` (it was built and found). */
  get consoleAvailable(): boolean {
    return this.#staticFiles.available;
  }

  /** A session token for the holder of `apiKey`, as `POST /v1/session` gives (the demo's link). */
  openSession(apiKey: string): { token: string; expiresAt: Date } {
    if (!this.#apiKeys.verify(apiKey))
      throw new Error("openSession: not one of this hub's API keys");
    return this.#sessionTokens.issue(apiKey);
  }

  /** Open subscriptions, for tests and diagnostics. */
  subscriptions(): { id: string; clientId: string; deviceId: string; streams: string[] }[] {
    return this.#broker.subscriptions.list().map((s) => ({
      id: s.id,
      clientId: s.client.id,
      deviceId: s.deviceId,
      streams: [...s.streams],
    }));
  }

  /** The send queue of every open WebSocket (device links and stream clients). */
  peerStats(): PeerStats[] {
    return [...this.#peers].map((s) => s.stats());
  }

  /** How many forwarded requests still wait for their device's final reply. */
  pendingRequests(): number {
    return this.#broker.requests.size;
  }

  /** The last agent seq processed from the device's current store (0 if none). */
  lastSeq(deviceId: string): number {
    return this.#cursors.lastSeq(deviceId);
  }

  /** The webhooks (also managed over REST at /v1/webhooks). */
  get webhooks(): Webhooks {
    return this.#webhooks;
  }

  /** The hub's share of a fleet on an MQTT broker (`fleet` option), or null. */
  get fleet(): Fleet | null {
    return this.#fleet;
  }

  /**
   * Takes a new set of device credentials (a SIGHUP reload of `--device-tokens`) and says what
   * changed. From now on only the new set opens `/v1/device`; a device removed or given another
   * token is disconnected with 4003 (credentials revoked): it holds a credential the hub no longer
   * accepts, and its redial is refused with 401 unless it has the new token. New devices are
   * listed (offline) at once. On an MQTT broker the broker checks credentials, not the hub, so
   * this only updates the list of known devices.
   */
  replaceDeviceCredentials(next: DeviceCredentials): CredentialsChange {
    const change = diffCredentials(this.#credentials, next);
    this.#credentials = next;
    for (const id of change.added) this.#broker.devices.remember(id, null);
    const revoked = new Set([...change.removed, ...change.changed]);
    if (revoked.size > 0) {
      for (const peer of this.#peers) {
        if (peer instanceof DevicePeer && revoked.has(peer.deviceId)) {
          this.#logger.warn(
            { code: LogCode.deviceCredentialsRevoked, deviceId: peer.deviceId },
            'device disconnected: its token was removed or changed',
          );
          void peer.close(CloseCode.credentialsRevoked, 'credentials revoked');
        }
      }
    }
    return change;
  }

  /** How many devices hold credentials (`--device-token` and `--device-tokens`). */
  get credentialCount(): number {
    return this.#credentials.size;
  }

  /** Hears every change of the set of streams clients want from a device. */
  onStreamsChanged(listener: StreamsChangedListener): () => void {
    return this.#broker.subscriptions.onStreamsChanged(listener);
  }

  async #stop(): Promise<void> {
    if (this.#state === 'starting') await this.#starting?.catch(() => {});
    const wasListening = this.#state === 'listening';
    this.#state = 'stopping';
    // Before the device links close: the Command API's running commands are cancelled on them.
    this.#commandApi.close();
    this.#updates?.close();
    if (wasListening) {
      const serverClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeIdleConnections();
      await Promise.all(
        [...this.#peers].map((s) => s.close(CloseCode.goingAway, 'server restart')),
      );
      this.#server.closeAllConnections();
      await serverClosed;
    }
    // After the clients: their running commands are cancelled on the devices through it.
    await this.#fleet?.stop();
    this.#cursors.close();
    await this.#webhooks.stop();
    this.#state = 'stopped';
    this.#logger.info('hub stopped');
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) =>
      this.#logger.debug({ err: err.message }, 'socket error during upgrade'),
    );
    if (this.#state !== 'listening') {
      socket.destroy();
      return;
    }
    const url = requestUrl(req);
    const remote = req.socket.remoteAddress;
    if (req.method !== 'GET') {
      // RFC 6455: an opening handshake is a GET. Refused here, before any credential is read.
      rejectUpgrade(
        socket,
        405,
        ErrorCode.methodNotAllowed,
        'a WebSocket upgrade is a GET request',
        { Allow: 'GET' },
        req.method,
      );
      return;
    }
    if (url.pathname === DEVICE_PATH && this.#fleet) {
      rejectUpgrade(
        socket,
        404,
        ErrorCode.notFound,
        'this hub serves devices through its MQTT broker: set server.url to the broker',
      );
    } else if (url.pathname === DEVICE_PATH) {
      const auth = this.#credentials.authenticate(req.headers);
      if (!auth.ok) {
        this.#logger.warn(
          { code: ErrorCode.unauthorized, endpoint: DEVICE_PATH, remote, reason: auth.reason },
          'device refused',
        );
        rejectUpgrade(socket, 401, ErrorCode.unauthorized, 'missing or wrong device credentials', {
          'WWW-Authenticate': 'Bearer',
        });
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#acceptDevice(ws, auth.deviceId));
    } else if (url.pathname === STREAM_PATH) {
      const auth = authenticateClient(
        req.headers,
        url,
        this.#apiKeys,
        this.#sessionTokens,
        KEY_OR_SESSION,
      );
      if (!auth.ok) {
        this.#logger.warn(
          { code: auth.code, endpoint: STREAM_PATH, remote },
          'stream client refused',
        );
        rejectUpgrade(socket, auth.status, auth.code, refusalMessage(auth.code), {
          'WWW-Authenticate': challenge(auth.code),
        });
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) =>
        this.#acceptClient(ws, req.socket.remoteAddress),
      );
    } else {
      rejectUpgrade(socket, 404, ErrorCode.notFound, 'no WebSocket endpoint here');
    }
  }

  #acceptDevice(ws: WebSocket, deviceId: string): void {
    if (this.#state !== 'listening') {
      ws.terminate();
      return;
    }
    const peer = new DevicePeer({
      socket: ws,
      deviceId,
      clock: this.#clock,
      logger: this.#logger.child({ deviceId }),
      ...this.#timing,
      ...this.#sendBounds,
      events: this.#deviceEvents,
      cursors: this.#cursors,
      ackIntervalMs: this.#ackIntervalMs,
      helloTimeoutMs: this.#helloTimeoutMs,
    });
    this.#track(peer);
    this.#broker.deviceAttached(peer);
    peer.start();
  }

  #acceptClient(ws: WebSocket, remote: string | undefined): void {
    if (this.#state !== 'listening') {
      ws.terminate();
      return;
    }
    const id = uniqueId(this.#ids, 'cl', (candidate) => this.#clientIds.has(candidate));
    this.#clientIds.add(id);
    const peer = new ClientPeer({
      socket: ws,
      id,
      remote,
      clock: this.#clock,
      logger: this.#logger.child({ clientId: id }),
      ...this.#timing,
      ...this.#sendBounds,
      events: this.#clientEvents,
    });
    this.#track(peer);
    void peer.closed.then(() => this.#clientIds.delete(id));
    this.#broker.clientAttached(peer);
    peer.start();
  }

  /** The agent artifacts this hub keeps (`--artifacts`), or null. */
  get artifacts(): ArtifactStore | null {
    return this.#artifacts;
  }

  /** The agent updates this hub runs, or null without artifacts. */
  get updates(): UpdateManager | null {
    return this.#updates;
  }

  /**
   * `update_request` from a stream client: answered `update_requested` with each device's
   * state, or an `error`. Every client then hears `update_state` as the devices go.
   */
  #updateRequest(client: ClientLink, frame: ParsedFrame): void {
    const refuse = (code: ErrorCode, message: string): void => {
      const error: FrameError = { code, message, type: frame.type };
      if (frame.request_id !== undefined) error.request_id = frame.request_id;
      client.refuse(error);
    };
    if (!this.#updates) {
      refuse(
        ErrorCode.notFound,
        'this hub keeps no agent artifacts: start it with --artifacts DIR (or --state-dir DIR)',
      );
      return;
    }
    const started = this.#updates.request(frame.payload as UpdateRequestPayload);
    if (!started.ok) {
      refuse(started.error.code, started.error.message);
      return;
    }
    const reply: Message = {
      type: 'update_requested',
      payload: { version: started.version, devices: started.devices },
    };
    if (frame.request_id !== undefined) reply.request_id = frame.request_id;
    client.send(reply);
  }

  /**
   * An update's state to every stream client. Offered, as telemetry is: a client that does not
   * read misses some (and is told how many); the last state of each device is in /v1/devices.
   */
  #broadcastUpdate(view: UpdateStateView): void {
    for (const peer of this.#peers) {
      if (peer instanceof ClientPeer) peer.offer({ type: 'update_state', payload: { ...view } });
    }
  }

  #track(peer: Peer & { closed: Promise<void> }): void {
    this.#peers.add(peer);
    void peer.closed.then(() => this.#peers.delete(peer));
  }
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0 || value > 2 ** 31 - 1) {
    throw new RangeError(`${name}: expected a positive integer of milliseconds, got ${value}`);
  }
  return value;
}

function count(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${name}: expected a positive integer, got ${value}`);
  }
  return value;
}

function commandResultLimits(limits: CommandResultLimits): CommandResultLimits {
  count('commandResults.maxResults', limits.maxResults);
  count('commandResults.maxBytes', limits.maxBytes);
  count('commandResults.maxOutputBytes', limits.maxOutputBytes);
  positive('commandResults.ttlMs', limits.ttlMs);
  return limits;
}

/** The queue limit must leave room for one whole frame above the high-water mark. */
function sendBounds(
  highWaterBytes: number,
  queueLimitBytes: number,
): { highWaterBytes: number; queueLimitBytes: number } {
  count('peerHighWaterBytes', highWaterBytes);
  if (!Number.isInteger(queueLimitBytes) || queueLimitBytes < highWaterBytes + MAX_FRAME_BYTES) {
    throw new RangeError(
      `peerQueueLimitBytes: expected an integer of at least peerHighWaterBytes + ${MAX_FRAME_BYTES} (one frame), got ${queueLimitBytes}`,
    );
  }
  return { highWaterBytes, queueLimitBytes };
}

/** IPv6 literals go in brackets in a URL. */
export function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
