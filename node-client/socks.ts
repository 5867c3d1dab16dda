import * as net from 'node:net';
import { toHex } from '../shared/bytes/index.ts';
import { EndReason } from '../shared/cells/index.ts';
import { ProtocolError, StreamError, TelescopeError, silentLogger, type Logger } from '../shared/util/index.ts';
import {
  addressFor, encodeReply, SocksHandshakeError, SocksReply, socksReplyFor, SocksServerHandshake, type SocksAuth, type SocksRequest,
} from '../shared/socks/index.ts';
import type { TorStream } from '../shared/stream/index.ts';
import { pipeStream } from '../node-platform/pipe.ts';

/**
 * The SOCKS5 port of the Node client, so any application can use it: a Node socket around the
 * shared SOCKS5 handshake. CONNECT with a domain name goes to the exit as a hostname (no local
 * DNS), the username/password pair is the stream-isolation key (as tor's IsolateSOCKSAuth), and
 * tor's RESOLVE (0xF0) asks an exit to resolve a name.
 */

export interface SocksBackend {
  connect(host: string, port: number, isolationKey: string): Promise<TorStream>;
  resolve(host: string, isolationKey: string): Promise<string[]>;
}

/**
 * What a client may have sent before its stream is open: the handshake's messages are a few
 * hundred bytes at most, so more than this is a client not waiting for answers.
 */
const MAX_NEGOTIATION_BYTES = 1024;

/** The stream-isolation key of a request: one per username/password pair, one for no credentials. */
function isolationKeyOf(auth: SocksAuth | undefined): string {
  return auth ? `socks:${toHex(auth.username)}:${toHex(auth.password)}` : 'socks:';
}

/** Bytes a socket delivered while the handshake runs and its stream is being opened. */
class NegotiationInput {
  bytes: Uint8Array = new Uint8Array(0);
  private waiter: (() => void) | undefined;
  private ended = false;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
  }

  private onData = (c: Buffer) => {
    this.bytes = this.bytes.length === 0 ? c : Buffer.concat([this.bytes, c]);
    if (this.bytes.length > MAX_NEGOTIATION_BYTES) this.socket.destroy();
    this.wake();
  };

  private onEnd = () => {
    this.ended = true;
    this.wake();
  };

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  consume(n: number): void {
    this.bytes = this.bytes.subarray(n);
  }

  /** Wait for more bytes; throws once the client has gone. */
  async more(): Promise<void> {
    if (this.ended) throw new ProtocolError('SOCKS5', 'connection closed during the handshake');
    await new Promise<void>((r) => { this.waiter = r; });
  }

  /** Stop reading for the handshake; return the bytes that came after the request. */
  detach(): Uint8Array {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    return this.bytes;
  }
}

export class SocksServer {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly backend: SocksBackend, private readonly log: Logger = silentLogger) {}

  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((s) => this.handle(s));
      server.once('error', reject);
      server.listen(port, host, () => {
        this.server = server;
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private handle(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    this.serve(socket).catch((e: unknown) => {
      if (e instanceof SocksHandshakeError && e.reply) socket.end(e.reply);
      if (e instanceof TelescopeError) this.log.info(`SOCKS: ${e.message}`);
      else this.log.warn(`SOCKS: unexpected ${String(e)}`);
      socket.destroy();
    });
  }

  private async serve(socket: net.Socket): Promise<void> {
    const input = new NegotiationInput(socket);
    const handshake = new SocksServerHandshake();
    let request: SocksRequest | undefined;
    while (!request) {
      const step = handshake.step(input.bytes);
      if (step.kind === 'need-more') {
        await input.more();
        continue;
      }
      input.consume(step.consumed);
      if (step.kind === 'reply') socket.write(step.reply);
      else request = step.request;
    }
    const isolationKey = isolationKeyOf(request.auth);
    switch (request.command) {
      case 'CONNECT': return this.connect(socket, input, request, isolationKey);
      case 'RESOLVE': return this.resolve(socket, request.host, isolationKey);
      case 'RESOLVE_PTR':
        // Reverse lookups are not offered: the exit would have to be asked for a PTR record.
        socket.end(encodeReply(SocksReply.COMMAND_NOT_SUPPORTED));
        this.log.info(`SOCKS: RESOLVE_PTR for ${request.host} is not supported`);
    }
  }

  private async connect(socket: net.Socket, input: NegotiationInput, request: SocksRequest, isolationKey: string): Promise<void> {
    let stream: TorStream;
    try {
      stream = await this.backend.connect(request.host, request.port, isolationKey);
    } catch (e) {
      socket.end(encodeReply(socksReplyFor(e)));
      throw e;
    }
    if (socket.destroyed) {
      // The client left while the stream was being opened: close it, or it stays open at the exit.
      stream.close();
      return;
    }
    const early = input.detach();
    socket.write(encodeReply(SocksReply.SUCCEEDED));
    pipeStream(socket, stream, early, this.log);
  }

  private async resolve(socket: net.Socket, host: string, isolationKey: string): Promise<void> {
    try {
      const answers = await this.backend.resolve(host, isolationKey);
      const ip = answers.map(addressFor).find((a) => a.kind !== 'domain');
      if (!ip) throw new StreamError(`RESOLVE ${host}: no address in the answer`, EndReason.RESOLVEFAILED);
      socket.write(encodeReply(SocksReply.SUCCEEDED, ip));
    } catch (e) {
      socket.write(encodeReply(socksReplyFor(e)));
      throw e;
    } finally {
      socket.end();
    }
  }
}
