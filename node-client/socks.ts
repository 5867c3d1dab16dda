import * as net from 'node:net';
import { EndReason } from '../shared/cells/relay/messages.ts';
import { parseIp } from '../shared/addr/index.ts';
import { ProtocolError, StreamError, TelescopeError } from '../shared/errors.ts';
import { silentLogger, type Logger } from '../shared/log.ts';
import type { TorStream } from '../shared/stream/stream.ts';
import { pipeStream } from '../node-platform/pipe.ts';

/**
 * A SOCKS5 front (RFC 1928, RFC 1929) so any application can use the client: CONNECT with a
 * domain name goes to the exit as a hostname (no local DNS), the username/password pair is the
 * stream-isolation key (as tor's IsolateSOCKSAuth), and tor's RESOLVE (0xF0) extension asks an
 * exit to resolve a name.
 */

export interface SocksBackend {
  connect(host: string, port: number, isolationKey: string): Promise<TorStream>;
  resolve(host: string, isolationKey: string): Promise<string[]>;
}

const SOCKS_VERSION = 5;
const CMD_CONNECT = 1;
const CMD_RESOLVE = 0xf0;
const ATYP_IPV4 = 1;
const ATYP_DOMAIN = 3;
const ATYP_IPV6 = 4;

export const SocksReply = {
  SUCCEEDED: 0,
  GENERAL_FAILURE: 1,
  NOT_ALLOWED: 2,
  NETWORK_UNREACHABLE: 3,
  HOST_UNREACHABLE: 4,
  CONNECTION_REFUSED: 5,
  TTL_EXPIRED: 6,
  COMMAND_NOT_SUPPORTED: 7,
  ADDRESS_TYPE_NOT_SUPPORTED: 8,
} as const;

/** The SOCKS5 reply for a stream failure (the mapping tor uses for END reasons). */
export function socksReplyFor(e: unknown): number {
  const reason = e instanceof StreamError ? e.reason : undefined;
  switch (reason) {
    case EndReason.RESOLVEFAILED: return SocksReply.HOST_UNREACHABLE;
    case EndReason.CONNECTREFUSED: return SocksReply.CONNECTION_REFUSED;
    case EndReason.EXITPOLICY: return SocksReply.NOT_ALLOWED;
    case EndReason.TIMEOUT: return SocksReply.TTL_EXPIRED;
    case EndReason.NOROUTE: return SocksReply.NETWORK_UNREACHABLE;
    default: return SocksReply.GENERAL_FAILURE;
  }
}

/** Reads exact byte counts from a socket in the negotiation phase. */
class SocketReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
  }

  private onData = (c: Buffer) => {
    this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
    if (this.buf.length > 1024) this.socket.destroy(); // negotiation messages are tiny
    this.waiter?.();
  };

  private onEnd = () => {
    this.ended = true;
    this.waiter?.();
  };

  async take(n: number, what: string): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.ended) throw new ProtocolError('SOCKS5', `connection closed while reading ${what}`);
      await new Promise<void>((r) => { this.waiter = r; });
      this.waiter = undefined;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Stop reading for negotiation; return bytes that arrived early (data after the request). */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    return this.buf;
  }
}

function reply(socket: net.Socket, code: number, bound?: Uint8Array): void {
  const addr = bound && bound.length === 16 ? bound : bound && bound.length === 4 ? bound : new Uint8Array(4);
  const atyp = addr.length === 16 ? ATYP_IPV6 : ATYP_IPV4;
  socket.write(Buffer.concat([Buffer.from([SOCKS_VERSION, code, 0, atyp]), Buffer.from(addr), Buffer.from([0, 0])]));
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
    this.negotiate(socket).catch((e: unknown) => {
      if (e instanceof TelescopeError) this.log.info(`SOCKS: ${e.message}`);
      else this.log.warn(`SOCKS: unexpected ${String(e)}`);
      socket.destroy();
    });
  }

  private async negotiate(socket: net.Socket): Promise<void> {
    const r = new SocketReader(socket);
    const [ver, nmethods] = await r.take(2, 'greeting');
    if (ver !== SOCKS_VERSION) throw new ProtocolError('SOCKS5', `version ${ver} is not SOCKS5`);
    const methods = await r.take(nmethods!, 'methods');
    let isolationKey = 'socks:';
    if (methods.includes(2)) {
      socket.write(Buffer.from([SOCKS_VERSION, 2]));
      const [authVer, ulen] = await r.take(2, 'username length');
      if (authVer !== 1) throw new ProtocolError('SOCKS5', `username/password version ${authVer}`);
      const user = await r.take(ulen!, 'username');
      const [plen] = await r.take(1, 'password length');
      const pass = await r.take(plen!, 'password');
      // Any credentials are accepted: they only separate streams onto different circuits.
      isolationKey = `socks:${user.toString('hex')}:${pass.toString('hex')}`;
      socket.write(Buffer.from([1, 0]));
    } else if (methods.includes(0)) {
      socket.write(Buffer.from([SOCKS_VERSION, 0]));
    } else {
      socket.end(Buffer.from([SOCKS_VERSION, 0xff]));
      throw new ProtocolError('SOCKS5', 'client offers neither no-auth nor username/password');
    }
    const [v, cmd, , atyp] = await r.take(4, 'request');
    if (v !== SOCKS_VERSION) throw new ProtocolError('SOCKS5', `request version ${v}`);
    let host: string;
    if (atyp === ATYP_IPV4) host = [...(await r.take(4, 'IPv4 address'))].join('.');
    else if (atyp === ATYP_DOMAIN) {
      const [len] = await r.take(1, 'domain length');
      host = (await r.take(len!, 'domain')).toString('latin1');
    } else if (atyp === ATYP_IPV6) {
      const b = await r.take(16, 'IPv6 address');
      host = b.toString('hex').match(/.{4}/g)!.join(':');
    } else {
      reply(socket, SocksReply.ADDRESS_TYPE_NOT_SUPPORTED);
      socket.end();
      throw new ProtocolError('SOCKS5', `address type ${atyp}`);
    }
    const port = (await r.take(2, 'port')).readUInt16BE(0);
    if (cmd === CMD_RESOLVE) {
      await this.resolve(socket, host, isolationKey);
      return;
    }
    if (cmd !== CMD_CONNECT) {
      reply(socket, SocksReply.COMMAND_NOT_SUPPORTED);
      socket.end();
      throw new ProtocolError('SOCKS5', `command ${cmd} is not supported`);
    }
    let stream: TorStream;
    try {
      stream = await this.backend.connect(host, port, isolationKey);
    } catch (e) {
      reply(socket, socksReplyFor(e));
      socket.end();
      throw e;
    }
    if (socket.destroyed) {
      // The client left while the stream was being opened: close it, or it stays open at the exit.
      stream.close();
      return;
    }
    const early = r.detach();
    reply(socket, SocksReply.SUCCEEDED);
    pipeStream(socket, stream, early, this.log);
  }

  private async resolve(socket: net.Socket, host: string, isolationKey: string): Promise<void> {
    try {
      const answers = await this.backend.resolve(host, isolationKey);
      const ip = answers.map((a) => parseIp(a)?.bytes).find((b) => b !== undefined);
      if (!ip) throw new StreamError(`RESOLVE ${host}: no address in the answer`, EndReason.RESOLVEFAILED);
      reply(socket, SocksReply.SUCCEEDED, ip);
    } catch (e) {
      reply(socket, socksReplyFor(e));
      throw e;
    } finally {
      socket.end();
    }
  }
}
