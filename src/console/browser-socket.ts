import type { SocketEvents, SocketHandle } from './stream-client.js';

/**
 * The browser's WebSocket behind the StreamClient's small socket interface. Binary frames
 * arrive as ArrayBuffers (not Blobs): decoded at once, in order with the text frames.
 */
export function openBrowserSocket(url: string, events: SocketEvents): SocketHandle {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => events.open();
  ws.onmessage = (event) => events.message(event.data);
  ws.onclose = (event) => events.close(event.code);
  return {
    isOpen: () => ws.readyState === WebSocket.OPEN,
    // Frames come from encodeByteFrame, always over a plain ArrayBuffer.
    send: (data) => ws.send(data as string | Uint8Array<ArrayBuffer>),
    close: (code, reason) => ws.close(code, reason),
  };
}
