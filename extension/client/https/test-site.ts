/**
 * For the HTTPS tests: an HTTPS server on loopback with a test CA's certificate for site.test and
 * 127.0.0.1, Node sockets posing as Tor streams, and libcurl.js's WebAssembly served from the
 * package, with every other fetch refused.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, vi } from 'vitest';
import { StreamError } from '../../../shared/util/index.ts';
import { makeTestCa, type TestCa } from '../../../testnet/tls-test-ca.ts';
import type { ByteStream, StreamOpener } from './streams.ts';

const require = createRequire(import.meta.url);
const wasmPath = require.resolve('libcurl.js/libcurl.wasm');

/** libcurl.js fetches its WebAssembly; nothing else may use the network here. */
export const fetchStub = vi.fn(async (input: unknown) => {
  const url = String(input instanceof Request ? input.url : input);
  if (!url.endsWith('libcurl.wasm')) throw new Error(`unexpected fetch of ${url}`);
  return new Response(readFileSync(wasmPath), { headers: { 'content-type': 'application/wasm' } });
});

/** A Node socket as a ByteStream. */
export function socketStream(socket: Socket): ByteStream {
  const chunks: Uint8Array[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => { wake?.(); wake = undefined; };
  socket.on('data', (d: Buffer) => { chunks.push(new Uint8Array(d)); notify(); });
  socket.on('end', () => { ended = true; notify(); });
  socket.on('close', () => { ended = true; notify(); });
  socket.on('error', (e) => { failure = e; notify(); });
  return {
    async read() {
      for (;;) {
        const c = chunks.shift();
        if (c) return c;
        if (failure) throw new StreamError(failure.message);
        if (ended) return null;
        await new Promise<void>((r) => { wake = r; });
      }
    },
    write: (data) => new Promise<void>((resolve, reject) => socket.write(data, (e) => (e ? reject(new StreamError(e.message)) : resolve()))),
    close: () => { socket.destroy(); },
  };
}

export const BIG = new Uint8Array(1 << 20).map((_, i) => (i * 7 + 3) & 0xff);

/** The running test site, filled in by useTestSite's beforeAll. */
export interface TestSite {
  ca: TestCa;
  otherCa: TestCa;
  port: number;
  /** TLS connections the test server accepted so far. */
  tlsConnections: number;
}

export const web = { tlsConnections: 0 } as TestSite;

/** An opener that sends every name to the test server, and records what it was asked for. */
export function opener(seen: string[], to = () => web.port): StreamOpener {
  return async (host, p) => {
    seen.push(`${host}:${p}`);
    const socket = connect(to(), '127.0.0.1');
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    return socketStream(socket);
  };
}

function handler(req: IncomingMessage, res: ServerResponse): void {
  const parts: Buffer[] = [];
  req.on('data', (d: Buffer) => parts.push(d));
  req.on('end', () => {
    const body = Buffer.concat(parts);
    if (req.url === '/hello') res.writeHead(200, { 'Content-Type': 'text/plain' }).end('hello over TLS');
    else if (req.url === '/echo') {
      res.writeHead(201, 'Made It', { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ method: req.method, headers: req.headers, body: body.toString('latin1') }));
    } else if (req.url === '/gzip') res.writeHead(200, { 'Content-Encoding': 'gzip' }).end(gzipSync(Buffer.from('squeezed '.repeat(100))));
    else if (req.url === '/big') res.writeHead(200, { 'Content-Length': String(BIG.length) }).end(BIG);
    else if (req.url === '/cookies') {
      res.setHeader('Set-Cookie', ['a=1; Expires=Wed, 21 Oct 2099 07:28:00 GMT', 'b=2']);
      res.writeHead(204).end();
    } else if (req.url === '/redirect') res.writeHead(302, { Location: '/hello' }).end();
    else if (req.url === '/304') res.writeHead(304).end();
    else res.writeHead(404).end('no');
  });
}

/** Start the site (and the fetch and WebSocket stubs) before the file's tests, stop it after. */
export function useTestSite(): TestSite {
  let server: Server | undefined;
  beforeAll(async () => {
    vi.stubGlobal('fetch', fetchStub);
    // Node 20 has no WebSocket; emscripten's socket layer names the constructor before it uses ours.
    vi.stubGlobal('WebSocket', class { constructor() { throw new Error('no WebSocket here'); } });
    web.ca = makeTestCa();
    web.otherCa = makeTestCa('Some Other CA');
    const { key, cert } = web.ca.issue({ dns: ['site.test'], ip: ['127.0.0.1'] });
    const s = createServer({ key, cert }, handler);
    server = s;
    s.on('secureConnection', () => { web.tlsConnections++; });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    web.port = (s.address() as AddressInfo).port;
  }, 60_000);

  afterAll(async () => {
    vi.unstubAllGlobals();
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    web.ca?.dispose();
    web.otherCa?.dispose();
  });
  return web;
}
