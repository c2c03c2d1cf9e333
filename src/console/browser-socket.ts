import type { SocketEvents, SocketHandle } from './stream-client.js';

/** The browser's WebSocket behind the StreamClient's small socket interface. */
export function openBrowserSocket(url: string, events: SocketEvents): SocketHandle {
  const ws = new WebSocket(url);
  ws.onopen = () => events.open();
  ws.onmessage = (event) => events.message(event.data);
  ws.onclose = (event) => events.close(event.code);
  return {
    isOpen: () => ws.readyState === WebSocket.OPEN,
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
  };
}
