import WebSocket from 'ws';
import type { SocketFactory } from './connection.js';

/**
 * The real socket of a `ws://` or `wss://` link. Alone in its file so that only an agent that
 * dials a hub loads ws: agent-root imports it for such a `server.url` only.
 */
export const createWebSocket: SocketFactory = (url, options) => new WebSocket(url, options);
