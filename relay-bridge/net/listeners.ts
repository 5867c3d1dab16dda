import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { WebSocketTransport, type WebSocketLike } from '../../shared/channel/websocket-transport.ts';
import type { ByteTransport } from '../../shared/channel/transport.ts';
import { TlsTransport } from './tls-transport.ts';

/**
 * The relay-bridge's listeners: a WebSocket port for browsers (plain `ws` on loopback, `wss`
 * with the operator's certificate) and a TLS ORPort for relays and tor clients. Each accepted
 * connection becomes a ByteTransport for the link handshake. Connections are described without
 * the peer's address: a bridge never logs where its clients come from.
 */

export interface Listener {
  readonly port: number;
  close(): Promise<void>;
}

/** Largest WebSocket message accepted: a batch of cells, never megabytes. */
const MAX_WS_MESSAGE = 1 << 20;

export async function listenWebSocket(
  opts: { host: string; port: number; tls?: { cert: string; key: string }; path?: string },
  onTransport: (t: ByteTransport) => void,
): Promise<Listener> {
  // Plain HTTP requests get a short answer; only WebSocket upgrades carry cells.
  const refuse = (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(426, { 'Content-Type': 'text/plain' }).end('Telescope relay-bridge: WebSocket only\n');
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, refuse) : http.createServer(refuse);
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: MAX_WS_MESSAGE, ...(opts.path && opts.path !== '/' ? { path: opts.path } : {}) });
  let counter = 0;
  wss.on('connection', (ws: WebSocket, req: http.IncomingMessage) => {
    // Cells are small: send each flushed batch at once.
    req.socket.setNoDelay(true);
    onTransport(WebSocketTransport.fromOpen(ws as unknown as WebSocketLike, `websocket client #${++counter}`));
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port, opts.host, () => resolve()); });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => server.close(() => resolve()));
    }),
  };
}

export async function listenTls(
  opts: { host: string; port: number; credentials: { key: string; cert: string } },
  onTransport: (t: TlsTransport) => void,
): Promise<Listener & { setCredentials(c: { key: string; cert: string }): void }> {
  const server = tls.createServer({ key: opts.credentials.key, cert: opts.credentials.cert, minVersion: 'TLSv1.2' });
  let counter = 0;
  server.on('secureConnection', (socket) => onTransport(TlsTransport.fromAccepted(socket, `OR connection #${++counter}`)));
  // Failed TLS handshakes (scanners, wrong protocol) are the peer's problem, not the relay's.
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port, opts.host, () => resolve()); });
  return {
    port: (server.address() as AddressInfo).port,
    // Link certificates rotate; new connections get the new one, open ones keep theirs.
    setCredentials: (c) => server.setSecureContext({ key: c.key, cert: c.cert }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
