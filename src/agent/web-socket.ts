import WebSocket from 'ws';
import type { SocketFactory } from './connection.js';

/**
 * The real WebSocket of a `Connection`, in a module of its own: `ws` costs a process about
 * 8 MiB of private memory to load, so only an agent whose `server.url` is ws:// or wss://
 * imports this (src/roots/agent-root.ts, `realAgentDependencies`).
 */
export const createWebSocket: SocketFactory = (url, options) => new WebSocket(url, options);
