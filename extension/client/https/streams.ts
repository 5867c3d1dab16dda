/**
 * How one of curl's connections finds the Tor streams of its session: each session registers
 * under a proxy name, `s<id>.telescope.invalid`, that it hands curl as its SOCKS5 proxy; the
 * connection curl then opens to that name looks the session up here. A name that is not
 * registered (or no longer) belongs to no session, and its connection is refused.
 */
import type { TelescopeError } from '../../../shared/util/index.ts';
import type { TorSocket } from './tor-socket.ts';

/** A duplex byte stream as a Tor stream provides it. */
export interface ByteStream {
  /** The next chunk, or null at a clean end. */
  read(): Promise<Uint8Array | null>;
  write(data: Uint8Array): Promise<void>;
  close(): void;
}

/** Opens a Tor stream to host:port (on the circuit of the request's first-party site). */
export type StreamOpener = (host: string, port: number) => Promise<ByteStream>;

/** One curl session's way to the network, as its connections find it by the session's proxy name. */
export interface SessionContext {
  /**
   * The opener of the session's latest request. All its requests share one first-party site, so
   * any of their openers reaches that site's circuit.
   */
  open: StreamOpener;
  /** Connections that have a stream: closed with the session. */
  readonly sockets: Set<TorSocket>;
  /** The latest thing that went wrong on our side of a connection (it explains curl's error code). */
  failure: TelescopeError | undefined;
  closed: boolean;
}

const PROXY_DOMAIN = '.telescope.invalid';
const PROXY_PORT = 1080;

const contexts = new Map<string, SessionContext>();
let nextSessionId = 1;

/** Register a session's context under a new proxy name; returns the name's id. */
export function registerSession(context: SessionContext): string {
  const proxyId = `s${nextSessionId++}`;
  contexts.set(proxyId, context);
  return proxyId;
}

export function unregisterSession(proxyId: string): void {
  contexts.delete(proxyId);
}

/** The SOCKS5 proxy curl is given for a session: socks5h, so that curl sends names, never resolves them. */
export function proxyUrl(proxyId: string): string {
  return `socks5h://${proxyId}${PROXY_DOMAIN}:${PROXY_PORT}`;
}

/** The context of the session whose proxy name is `host`, if it is one. */
export function sessionForProxyHost(host: string): SessionContext | undefined {
  const id = host.endsWith(PROXY_DOMAIN) ? host.slice(0, -PROXY_DOMAIN.length) : '';
  return contexts.get(id);
}
