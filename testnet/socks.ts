/**
 * A SOCKS5 client over Node sockets (the shared SOCKS5 client handshake, no authentication) and an
 * HTTP/1.0 GET over it: enough to fetch the test web server's pages through tor's SocksPort, by
 * IP, by name or by .onion address. Host names are sent as SOCKS domain names (ATYP 3) so that the
 * exit, or the onion service lookup, resolves them: the harness itself never resolves a name.
 */
import { connect, type Socket } from 'node:net';
import { ProtocolError, TelescopeError } from '../shared/util/index.ts';
import { SocksClientHandshake } from '../shared/socks/index.ts';

/**
 * Open a TCP connection to host:port through the SOCKS5 server at socksHost:socksPort. The socket
 * comes back paused: attach listeners, then call resume(). A refusal rejects with SocksError.
 */
export async function socksConnect(opts: {
  socksHost?: string;
  socksPort: number;
  host: string;
  port: number;
  timeoutMs?: number;
}): Promise<Socket> {
  const target = `${opts.host}:${opts.port}`;
  const handshake = new SocksClientHandshake({ host: opts.host, port: opts.port });
  const socket = connect({ host: opts.socksHost ?? '127.0.0.1', port: opts.socksPort });
  socket.setNoDelay(true);
  return new Promise<Socket>((resolve, reject) => {
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
        for (;;) {
          const step = handshake.step(pending);
          if (step.kind === 'need-more') return;
          pending = pending.subarray(step.consumed);
          if (step.kind === 'send') {
            socket.write(step.send);
            continue;
          }
          clearTimeout(timer);
          socket.off('data', onData);
          socket.off('error', fail);
          socket.off('close', onClose);
          // Paused, so bytes that arrived with the reply (or right after it) wait for the caller's
          // 'data' listener instead of being emitted to nobody.
          socket.pause();
          if (pending.length > 0) socket.unshift(Buffer.from(pending));
          resolve(socket);
          return;
        }
      } catch (err) {
        fail(err);
      }
    };
    const onClose = (): void => fail(new TelescopeError(`SOCKS5 server closed the connection while connecting to ${target}`));
    socket.on('data', onData);
    socket.once('error', fail);
    socket.once('close', onClose);
    socket.once('connect', () => socket.write(handshake.greeting));
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
