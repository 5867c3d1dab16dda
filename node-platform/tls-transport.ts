import * as tls from 'node:tls';
import type { ByteTransport, TransportFactory } from '../shared/channel/index.ts';
import { ChannelError } from '../shared/util/index.ts';

/**
 * A TLS connection to a relay's ORPort as a ByteTransport. Relays present self-signed
 * certificates; they are authenticated by the CERTS cell, which certifies the SHA-256 of exactly
 * this certificate, so the transport hands the peer certificate's DER up for that check instead of
 * validating it against a CA.
 */
export class TlsTransport implements ByteTransport {
  onData: ((data: Uint8Array) => void) | undefined;
  onClose: ((error?: Error) => void) | undefined;
  onDrain: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: tls.TLSSocket, readonly description: string, readonly peerCertificate: Uint8Array | undefined) {
    socket.on('data', (chunk: Buffer) => this.onData?.(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    socket.on('error', (e) => this.finish(e));
    socket.on('close', () => this.finish());
    // Node emits 'drain' once a write buffer that was over its high-water mark has emptied.
    socket.on('drain', () => this.onDrain?.());
  }

  /** Wrap a socket a TLS server accepted (the relay's ORPort). */
  static fromAccepted(socket: tls.TLSSocket, description: string): TlsTransport {
    socket.setNoDelay(true);
    return new TlsTransport(socket, description, undefined);
  }

  /** The TLS socket, for the link authentication exporter (AUTHENTICATE). */
  get tlsSocket(): tls.TLSSocket {
    return this.socket;
  }

  static connect(address: string, port: number, opts: { timeoutMs?: number } = {}): Promise<TlsTransport> {
    const description = `${address.includes(':') ? `[${address}]` : address}:${port}`;
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: address,
        port,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        // No SNI: tor relays neither need nor expect it, and a name would be a fingerprint.
        servername: '',
      });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ChannelError(`TLS connection to ${description} timed out`, { peer: description, phase: 'connect' }));
      }, opts.timeoutMs ?? 15_000);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        const cert = socket.getPeerX509Certificate();
        resolve(new TlsTransport(socket, description, cert ? new Uint8Array(cert.raw) : undefined));
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(new ChannelError(`TLS connection to ${description} failed: ${e.message}`, { cause: e, peer: description, phase: 'connect' }));
      });
    });
  }

  send(data: Uint8Array): void {
    if (!this.closed) this.socket.write(data);
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    if (this.closed) return;
    this.socket.end();
    // A peer that never finishes the close handshake must not keep the socket forever.
    setTimeout(() => this.socket.destroy(), 2_000).unref();
  }

  private finish(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.(error);
  }
}

export const tlsTransportFactory: TransportFactory = (t) => TlsTransport.connect(t.address, t.port);
