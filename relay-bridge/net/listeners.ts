import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo, Server, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { WebSocketTransport, type WebSocketLike } from '../../shared/channel/index.ts';
import type { ByteTransport } from '../../shared/channel/index.ts';
import type { Logger } from '../../shared/util/index.ts';
import { TlsTransport } from '../../node-platform/tls-transport.ts';

/**
 * The relay-bridge's listeners: a WebSocket port for browsers (plain `ws` on loopback, `wss`
 * with the operator's certificate) and a TLS ORPort for relays and tor clients. Each accepted
 * connection becomes a ByteTransport for the link handshake.
 *
 * Connections are described without the peer's address: a bridge never logs where its clients
 * come from. The address is handed to the relay beside the transport (for its per-address DoS
 * defences, kept in memory only), never inside a description or an error message.
 *
 * What a connection may cost before it is a Tor link is bounded: every TCP connection passes the
 * relay's gate first (connection caps, per-address defences) and is closed at once when refused,
 * before any TLS or HTTP work; a TLS handshake must finish within PRE_LINK_TIMEOUT_MS, and so must
 * the HTTP upgrade request (Node's defaults are 120 s and 60 s). Errors of the servers themselves
 * (EMFILE when descriptors run out, a client's malformed request) are logged and survived: an
 * accept error must never end the process.
 */

export interface Listener {
  readonly port: number;
  close(): Promise<void>;
}

/** Who connected, as the socket says: for the relay's DoS tables only. */
export interface PeerInfo {
  /** Remote IP address (text); undefined if the socket no longer knows it. */
  readonly address: string | undefined;
}

/** A connection the gate let in; released when its socket closes. */
export interface Admission {
  release(): void;
}

export interface ListenerHooks {
  /**
   * Called for every TCP connection, before TLS or HTTP: return undefined to refuse it (the
   * socket is destroyed at once), or an Admission released when the socket closes.
   */
  readonly gate?: (peer: PeerInfo) => Admission | undefined;
  /** Where server errors go (never with a client's address in them). */
  readonly log?: Logger;
}

/** Largest WebSocket message accepted: a batch of cells, never megabytes. */
const MAX_WS_MESSAGE = 1 << 20;
/** A TLS handshake, or an HTTP upgrade request, must be done within this. */
export const PRE_LINK_TIMEOUT_MS = 10_000;

/** Run every raw TCP connection of `server` through the gate. */
function gateConnections(server: Server, hooks: ListenerHooks, counters: { refused: number }): void {
  const gate = hooks.gate;
  if (!gate) return;
  server.on('connection', (socket: Socket) => {
    const admission = gate({ address: socket.remoteAddress });
    if (!admission) {
      counters.refused++;
      socket.destroy();
      return;
    }
    socket.once('close', () => admission.release());
  });
}

/** Errors of a listening server (EMFILE, ENFILE on accept): logged, never fatal. */
function surviveServerErrors(emitter: { on(event: 'error', fn: (e: Error) => void): unknown }, what: string, hooks: ListenerHooks): void {
  emitter.on('error', (e: Error) => {
    const code = (e as NodeJS.ErrnoException).code;
    hooks.log?.warn(`${what}: ${code ?? e.name}${code === 'EMFILE' || code === 'ENFILE' ? ': out of file descriptors, a connection was dropped' : ''}`);
  });
}

export async function listenWebSocket(
  opts: { host: string; port: number; tls?: { cert: string; key: string }; path?: string; preLinkTimeoutMs?: number },
  onTransport: (t: ByteTransport, peer: PeerInfo) => void,
  hooks: ListenerHooks = {},
): Promise<Listener & { readonly server: http.Server; readonly refused: () => number }> {
  // Plain HTTP requests get a short answer; only WebSocket upgrades carry cells.
  const refuse = (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(426, { 'Content-Type': 'text/plain' }).end('Telescope relay-bridge: WebSocket only\n');
  const limit = opts.preLinkTimeoutMs ?? PRE_LINK_TIMEOUT_MS;
  const timeouts = { headersTimeout: limit, requestTimeout: limit, connectionsCheckingInterval: Math.min(1_000, limit) };
  const server = opts.tls
    ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key, handshakeTimeout: limit, ...timeouts }, refuse)
    : http.createServer(timeouts, refuse);
  const counters = { refused: 0 };
  gateConnections(server, hooks, counters);
  // A connection that sends nothing at all is closed too. (With TLS the handshake timeout does
  // that, and this raw socket would be the one under the TLS socket, never upgraded itself.)
  if (!opts.tls) server.on('connection', (socket: Socket) => socket.setTimeout(limit, () => socket.destroy()));
  // Malformed requests, TLS failures and timeouts before the upgrade: the peer's problem.
  server.on('clientError', (_err: Error, socket: Socket) => socket.destroy());
  if (opts.tls) server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy());
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: MAX_WS_MESSAGE, ...(opts.path && opts.path !== '/' ? { path: opts.path } : {}) });
  surviveServerErrors(wss, 'WebSocket server', hooks);
  let counter = 0;
  wss.on('connection', (ws: WebSocket, req: http.IncomingMessage) => {
    // Upgraded: from here the link handshake's own timeout applies.
    req.socket.setTimeout(0);
    // Cells are small: send each flushed batch at once.
    req.socket.setNoDelay(true);
    onTransport(WebSocketTransport.fromOpen(ws as unknown as WebSocketLike, `websocket client #${++counter}`), { address: req.socket.remoteAddress });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve(); }); });
  surviveServerErrors(server, 'WebSocket listener', hooks);
  return {
    port: (server.address() as AddressInfo).port,
    server,
    refused: () => counters.refused,
    close: () => new Promise<void>((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => server.close(() => resolve()));
      server.closeAllConnections();
    }),
  };
}

export async function listenTls(
  opts: { host: string; port: number; credentials: { key: string; cert: string }; preLinkTimeoutMs?: number },
  onTransport: (t: TlsTransport, peer: PeerInfo) => void,
  hooks: ListenerHooks = {},
): Promise<Listener & { setCredentials(c: { key: string; cert: string }): void; readonly server: tls.Server; readonly refused: () => number }> {
  const server = tls.createServer({ key: opts.credentials.key, cert: opts.credentials.cert, minVersion: 'TLSv1.2', handshakeTimeout: opts.preLinkTimeoutMs ?? PRE_LINK_TIMEOUT_MS });
  const counters = { refused: 0 };
  gateConnections(server, hooks, counters);
  let counter = 0;
  server.on('secureConnection', (socket) => onTransport(TlsTransport.fromAccepted(socket, `OR connection #${++counter}`), { address: socket.remoteAddress }));
  // Failed or timed-out TLS handshakes (scanners, wrong protocol) are the peer's problem, not the relay's.
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve(); }); });
  surviveServerErrors(server, 'ORPort listener', hooks);
  return {
    port: (server.address() as AddressInfo).port,
    server,
    refused: () => counters.refused,
    // Link certificates rotate; new connections get the new one, open ones keep theirs.
    setCredentials: (c) => server.setSecureContext({ key: c.key, cert: c.cert }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
