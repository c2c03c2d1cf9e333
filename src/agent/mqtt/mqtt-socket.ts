import { isIP, connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';

/** What the client needs of a byte stream to the broker: node's TCP and TLS sockets are ones. */
export type MqttSocket = Duplex;

export interface MqttTlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** Opens the byte stream to the broker of `url` (`mqtt://` TCP, `mqtts://` TLS). */
export type MqttSocketFactory = (url: URL, tls: MqttTlsOptions) => MqttSocket;

const DEFAULT_PORT: Readonly<Record<string, number>> = { 'mqtt:': 1883, 'mqtts:': 8883 };

export const connectMqttSocket: MqttSocketFactory = (url, tls) => {
  const port = url.port ? Number(url.port) : DEFAULT_PORT[url.protocol];
  if (port === undefined) throw new TypeError(`not an MQTT URL: ${url.href}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal without its brackets
  if (url.protocol === 'mqtt:') return netConnect({ host, port, noDelay: true });
  const socket = tlsConnect({
    host,
    port,
    // SNI is for names only (RFC 6066 §3); the certificate is still checked against the address.
    ...(isIP(host) === 0 ? { servername: host } : {}),
    ...tls,
    rejectUnauthorized: true,
  });
  socket.setNoDelay(true); // the client gathers a tick's packets into one write itself
  return socket;
};
