/**
 * A minimal SOCKS5 client (RFC 1928, no authentication) and an HTTP/1.0 GET over it: enough to
 * fetch the test web server's pages through tor's SocksPort, by IP, by name or by .onion address.
 * Host names are sent as SOCKS domain names (ATYP 3) so that the exit, or the onion service
 * lookup, resolves them: the harness itself never resolves a name.
 */
import { connect, isIPv4, type Socket } from 'node:net';
import { ProtocolError, TelescopeError } from '../shared/errors.ts';

/** RFC 1928 reply codes, for messages a human can act on. */
const REPLY_TEXT: Record<number, string> = {
  1: 'general SOCKS server failure',
  2: 'connection not allowed by ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
  // tor's extended codes for onion services (tor's SOCKS extensions).
  0xf0: 'onion service descriptor can not be found',
  0xf1: 'onion service descriptor is invalid',
  0xf2: 'onion service introduction failed',
  0xf3: 'onion service rendezvous failed',
  0xf4: 'onion service missing client authorization',
  0xf5: 'onion service wrong client authorization',
  0xf6: 'onion service invalid address',
  0xf7: 'onion service introduction timed out',
};

/** The SOCKS server refused the request (reply code != 0). */
export class SocksError extends TelescopeError {
  readonly reply: number;
  constructor(reply: number, target: string) {
    super(`SOCKS5 request for ${target} failed: ${REPLY_TEXT[reply] ?? 'unknown reply'} (reply ${reply})`);
    this.reply = reply;
  }
}

/** Encode the CONNECT request for host:port. */
export function encodeConnectRequest(host: string, port: number): Uint8Array {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ProtocolError('SOCKS5 request', `bad port ${port}`);
  if (isIPv4(host)) {
    return Uint8Array.from([5, 1, 0, 1, ...host.split('.').map(Number), port >> 8, port & 0xff]);
  }
  const name = new TextEncoder().encode(host);
  if (name.length === 0 || name.length > 255) throw new ProtocolError('SOCKS5 request', `host name of ${name.length} bytes`);
  return Uint8Array.from([5, 1, 0, 3, name.length, ...name, port >> 8, port & 0xff]);
}

/**
 * Parse a SOCKS5 reply from the start of `buf`. Returns undefined while more bytes are needed,
 * else the reply code and how many bytes the reply took. Throws ProtocolError on bytes that are
 * not a SOCKS5 reply.
 */
export function parseSocksReply(buf: Uint8Array): { reply: number; length: number } | undefined {
  if (buf.length < 5) return undefined;
  if (buf[0] !== 5) throw new ProtocolError('SOCKS5 reply', `version ${buf[0]}, expected 5`, 0);
  if (buf[2] !== 0) throw new ProtocolError('SOCKS5 reply', `reserved byte ${buf[2]}, expected 0`, 2);
  const atyp = buf[3];
  let addrLen: number;
  if (atyp === 1) addrLen = 4;
  else if (atyp === 4) addrLen = 16;
  else if (atyp === 3) addrLen = 1 + (buf[4] ?? 0);
  else throw new ProtocolError('SOCKS5 reply', `address type ${atyp}`, 3);
  const length = 4 + addrLen + 2;
  if (buf.length < length) return undefined;
  return { reply: buf[1] ?? 0, length };
}

/**
 * Open a TCP connection to host:port through the SOCKS5 server at socksHost:socksPort. The socket
 * comes back paused: attach listeners, then call resume().
 */
export async function socksConnect(opts: {
  socksHost?: string;
  socksPort: number;
  host: string;
  port: number;
  timeoutMs?: number;
}): Promise<Socket> {
  const target = `${opts.host}:${opts.port}`;
  const request = encodeConnectRequest(opts.host, opts.port);
  const socket = connect({ host: opts.socksHost ?? '127.0.0.1', port: opts.socksPort });
  socket.setNoDelay(true);
  return new Promise<Socket>((resolve, reject) => {
    let stage: 'method' | 'reply' = 'method';
    let pending = new Uint8Array(0);
    const timer = setTimeout(() => fail(new TelescopeError(`SOCKS5 connect to ${target} timed out after ${opts.timeoutMs ?? 60_000} ms`)), opts.timeoutMs ?? 60_000);
    const fail = (err: unknown): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      const merged = new Uint8Array(pending.length + chunk.length);
      merged.set(pending);
      merged.set(chunk, pending.length);
      pending = merged;
      try {
        if (stage === 'method') {
          if (pending.length < 2) return;
          if (pending[0] !== 5 || pending[1] !== 0) {
            throw new ProtocolError('SOCKS5 method selection', `got ${pending[0]}/${pending[1]}, expected 5/0 (no auth)`);
          }
          pending = pending.subarray(2);
          stage = 'reply';
          socket.write(request);
        }
        const parsed = parseSocksReply(pending);
        if (!parsed) return;
        if (parsed.reply !== 0) throw new SocksError(parsed.reply, target);
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('error', fail);
        socket.off('close', onClose);
        // Paused, so bytes that arrived with the reply (or right after it) wait for the caller's
        // 'data' listener instead of being emitted to nobody.
        socket.pause();
        const rest = pending.subarray(parsed.length);
        if (rest.length > 0) socket.unshift(Buffer.from(rest));
        resolve(socket);
      } catch (err) {
        fail(err);
      }
    };
    const onClose = (): void => fail(new TelescopeError(`SOCKS5 server closed the connection while connecting to ${target}`));
    socket.on('data', onData);
    socket.once('error', fail);
    socket.once('close', onClose);
    socket.once('connect', () => socket.write(Uint8Array.from([5, 1, 0])));
  });
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
}

/** Split a raw HTTP/1.x response (read until the server closed) into status, headers, body. */
export function parseHttpResponse(raw: Uint8Array): HttpResponse {
  let end = -1;
  for (let i = 0; i + 3 < raw.length; i++) {
    if (raw[i] === 13 && raw[i + 1] === 10 && raw[i + 2] === 13 && raw[i + 3] === 10) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new ProtocolError('HTTP response', 'no end of headers');
  const head = new TextDecoder('latin1').decode(raw.subarray(0, end)).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
  if (!m) throw new ProtocolError('HTTP response', `bad status line ${JSON.stringify((head[0] ?? '').slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ProtocolError('HTTP response', `bad header line ${JSON.stringify(line.slice(0, 80))}`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = raw.subarray(end + 4);
  const declared = headers['content-length'];
  if (declared !== undefined && Number(declared) !== body.length) {
    throw new ProtocolError('HTTP response', `body of ${body.length} bytes, content-length says ${declared}`);
  }
  return { status: Number(m[1]), headers, body };
}

/** GET http://host:port/path through a SOCKS5 proxy; HTTP/1.0 so the server closes at the end. */
export async function httpGetViaSocks(opts: {
  socksHost?: string;
  socksPort: number;
  host: string;
  port: number;
  path: string;
  timeoutMs?: number;
}): Promise<HttpResponse> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const socket = await socksConnect({ ...opts, timeoutMs });
  return new Promise<HttpResponse>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TelescopeError(`GET http://${opts.host}:${opts.port}${opts.path} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('end', () => {
      clearTimeout(timer);
      try {
        resolve(parseHttpResponse(new Uint8Array(Buffer.concat(chunks))));
      } catch (err) {
        reject(err);
      }
    });
    socket.write(`GET ${opts.path} HTTP/1.0\r\nHost: ${opts.host}\r\nConnection: close\r\n\r\n`);
    socket.resume();
  });
}
