/**
 * The byte transport under a channel, handed in by the host: a TLS socket in Node, a WebSocket in
 * the extension, an in-memory pipe in tests. The core never opens connections itself.
 */
export interface ByteTransport {
  /** Queue bytes for the peer. The transport keeps their order; it may batch them into frames. */
  send(data: Uint8Array): void;
  /** Close the connection; `onClose` fires once afterwards. */
  close(): void;
  /** Set by the channel: bytes from the peer, in order, chunked arbitrarily. */
  onData: ((data: Uint8Array) => void) | undefined;
  /** Set by the channel: the connection is gone (`error` when it failed rather than closed). */
  onClose: ((error?: Error) => void) | undefined;
  /** DER of the peer's TLS certificate, when the transport is TLS and can expose it. */
  readonly peerCertificate?: Uint8Array;
  /** Human-readable peer description for logs (never a client's address). */
  readonly description: string;
  /**
   * Bytes handed to send() that the connection has not written out yet, when it can tell. A
   * transport that reports it also calls `onDrain` once it has fallen back (at the latest when it
   * reaches 0), so a sender that stopped at a high-water mark knows when to go on.
   */
  readonly bufferedAmount?: number;
  /** Set by the channel: what was buffered has been written out (see bufferedAmount). */
  onDrain?: (() => void) | undefined;
  /**
   * Stop delivering data until resume() (backpressure: a relay over its bandwidth budget, or a
   * peer that does not read what we send it). Data may still arrive for a moment (what was
   * already read); nothing is lost. Calls do not nest: one resume() undoes any number of pause().
   */
  pause?(): void;
  resume?(): void;
}

/** Opens transports to relays: the host decides how (TLS to an ORPort, WebSocket to a bridge). */
export type TransportFactory = (target: { readonly address: string; readonly port: number }) => Promise<ByteTransport>;
