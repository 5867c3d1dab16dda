import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { equalBytes } from '../../../shared/bytes/util.ts';
import { CertificateError, StreamError, TelescopeError } from '../../../shared/errors.ts';
import { makeTestCa, type TestCa } from '../../../testnet/tls-test-ca.ts';
import { HttpsPool, httpsRequest, parsePemCertificates, readSocksConnect, readSocksGreeting, type ByteStream, type StreamOpener } from './transfer.ts';

/**
 * httpsRequest with the real libcurl.js (its WebAssembly run by Node), over loopback TCP sockets
 * that stand in for Tor streams: TLS, certificate and host name checks, the extra-CA option, and
 * that every connection goes through the opener by name. The Tor path itself is proven by
 * e2e/extension-https.e2e.test.ts in the extension's service worker.
 */

const require = createRequire(import.meta.url);
const wasmPath = require.resolve('libcurl.js/libcurl.wasm');

/** libcurl.js fetches its WebAssembly; nothing else may use the network here. */
const fetchStub = vi.fn(async (input: unknown) => {
  const url = String(input instanceof Request ? input.url : input);
  if (!url.endsWith('libcurl.wasm')) throw new Error(`unexpected fetch of ${url}`);
  return new Response(readFileSync(wasmPath), { headers: { 'content-type': 'application/wasm' } });
});

/** A Node socket as a ByteStream. */
function socketStream(socket: Socket): ByteStream {
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

let ca: TestCa;
let otherCa: TestCa;
let server: Server;
let port: number;
/** TLS connections the test server accepted so far. */
let tlsConnections = 0;
const BIG = new Uint8Array(1 << 20).map((_, i) => (i * 7 + 3) & 0xff);

/** An opener that sends every name to the test server, and records what it was asked for. */
function opener(seen: string[], to = () => port): StreamOpener {
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

beforeAll(async () => {
  vi.stubGlobal('fetch', fetchStub);
  // Node 20 has no WebSocket; emscripten's socket layer names the constructor before it uses ours.
  vi.stubGlobal('WebSocket', class { constructor() { throw new Error('no WebSocket here'); } });
  ca = makeTestCa();
  otherCa = makeTestCa('Some Other CA');
  const { key, cert } = ca.issue({ dns: ['site.test'], ip: ['127.0.0.1'] });
  server = createServer({ key, cert }, handler);
  server.on('secureConnection', () => { tlsConnections++; });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
}, 60_000);

afterAll(async () => {
  vi.unstubAllGlobals();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  ca?.dispose();
  otherCa?.dispose();
});

describe('httpsRequest (libcurl.js over byte streams)', () => {
  it('fetches by host name through the opener, with the test CA added to the roots', async () => {
    const seen: string[] = [];
    const r = await httpsRequest(opener(seen), { method: 'GET', url: new URL(`https://site.test:${port}/hello`) }, { extraCaPem: [ca.caPem] });
    expect(r.status).toBe(200);
    expect(r.statusText).toBe('OK');
    expect(new TextDecoder().decode(r.body)).toBe('hello over TLS');
    expect(r.headers.get('content-type')).toBe('text/plain');
    // The name went to the opener (the exit resolves it); nothing else was dialled.
    expect(seen).toEqual([`site.test:${port}`]);
    expect(fetchStub.mock.calls.every(([u]) => String(u).endsWith('libcurl.wasm'))).toBe(true);
  }, 60_000);

  it('checks an IP address against the certificate\'s IP SAN', async () => {
    const seen: string[] = [];
    const r = await httpsRequest(opener(seen), { method: 'GET', url: new URL(`https://127.0.0.1:${port}/hello`) }, { extraCaPem: [ca.caPem] });
    expect(r.status).toBe(200);
    expect(seen).toEqual([`127.0.0.1:${port}`]);
  });

  it('rejects a certificate from an unknown CA, and an extra CA never outlives its request', async () => {
    await expect(httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${port}/hello`) })).rejects.toBeInstanceOf(CertificateError);
    await expect(httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${port}/hello`) }, { extraCaPem: [otherCa.caPem] }))
      .rejects.toBeInstanceOf(CertificateError);
  });

  it('rejects a certificate for another name, even from a trusted CA', async () => {
    const err = await httpsRequest(opener([]), { method: 'GET', url: new URL(`https://other.test:${port}/hello`) }, { extraCaPem: [ca.caPem] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertificateError);
    expect((err as Error).message).toContain('other.test');
  });

  it('passes method, headers and body through; keeps the status line\'s reason', async () => {
    const r = await httpsRequest(opener([]), {
      method: 'PUT',
      url: new URL(`https://site.test:${port}/echo`),
      headers: { 'X-Test': 'yes', Accept: 'application/json', 'Accept-Encoding': 'x-bogus', Host: 'evil.test' },
      body: new TextEncoder().encode('payload \u00ff'),
    }, { extraCaPem: [ca.caPem] });
    expect(r.status).toBe(201);
    expect(r.statusText).toBe('Made It');
    const echo = JSON.parse(new TextDecoder().decode(r.body)) as { method: string; headers: Record<string, string>; body: string };
    expect(echo.method).toBe('PUT');
    expect(echo.headers['x-test']).toBe('yes');
    expect(echo.headers['accept']).toBe('application/json');
    expect(echo.headers['host']).toBe(`site.test:${port}`);
    expect(echo.headers['accept-encoding']).not.toContain('x-bogus');
    expect(echo.headers['user-agent']).toBeUndefined();
    expect(echo.body).toBe(new TextDecoder('latin1').decode(new TextEncoder().encode('payload \u00ff')));
  });

  it('sends Content-Length: 0 for a POST without body', async () => {
    const r = await httpsRequest(opener([]), { method: 'POST', url: new URL(`https://site.test:${port}/echo`) }, { extraCaPem: [ca.caPem] });
    const echo = JSON.parse(new TextDecoder().decode(r.body)) as { method: string; headers: Record<string, string> };
    expect(echo.method).toBe('POST');
    expect(echo.headers['content-length']).toBe('0');
  });

  it('decodes gzip bodies and drops Content-Encoding', async () => {
    const r = await httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${port}/gzip`) }, { extraCaPem: [ca.caPem] });
    expect(new TextDecoder().decode(r.body)).toBe('squeezed '.repeat(100));
    expect(r.headers.has('content-encoding')).toBe(false);
  });

  it('leaves redirects to the caller, keeps repeated Set-Cookie apart, handles 204/304 and HEAD', async () => {
    const o = { extraCaPem: [ca.caPem] };
    const redirect = await httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${port}/redirect`) }, o);
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/hello');
    const cookies = await httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${port}/cookies`) }, o);
    expect(cookies.status).toBe(204);
    expect(cookies.headers.get('set-cookie')).toBe('a=1; Expires=Wed, 21 Oct 2099 07:28:00 GMT\nb=2');
    const notModified = await httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${port}/304`) }, o);
    expect(notModified.status).toBe(304);
    expect(notModified.body.length).toBe(0);
    const head = await httpsRequest(opener([]), { method: 'HEAD', url: new URL(`https://site.test:${port}/big`) }, o);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(BIG.length));
    expect(head.body.length).toBe(0);
  });

  it('moves a 1 MiB body intact, and enforces the body limit', async () => {
    const r = await httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${port}/big`) }, { extraCaPem: [ca.caPem] });
    expect(r.body.length).toBe(BIG.length);
    expect(equalBytes(r.body, BIG)).toBe(true);
    await expect(httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${port}/big`) }, { extraCaPem: [ca.caPem], maxBodyBytes: 1000 }))
      .rejects.toBeInstanceOf(StreamError);
  });

  it('keeps concurrent requests on their own openers', async () => {
    const a: string[] = [];
    const b: string[] = [];
    const [ra, rb] = await Promise.all([
      httpsRequest(opener(a), { method: 'GET', url: new URL(`https://site.test:${port}/hello`) }, { extraCaPem: [ca.caPem] }),
      httpsRequest(opener(b), { method: 'GET', url: new URL(`https://127.0.0.1:${port}/hello`) }, { extraCaPem: [ca.caPem] }),
    ]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    expect(a).toEqual([`site.test:${port}`]);
    expect(b).toEqual([`127.0.0.1:${port}`]);
  });

  it('reports the opener\'s own error when the stream cannot be opened', async () => {
    const refuse: StreamOpener = async (host, p) => { throw new StreamError(`exit refused ${host}:${p}`, 4); };
    await expect(httpsRequest(refuse, { method: 'GET', url: new URL('https://nowhere.test/') })).rejects.toThrow('exit refused nowhere.test:443');
  });

  it('reports a stream that dies mid-handshake as a typed error', async () => {
    const dying: StreamOpener = async () => ({ read: async () => { throw new StreamError('circuit destroyed'); }, write: async () => {}, close: () => {} });
    await expect(httpsRequest(dying, { method: 'GET', url: new URL('https://site.test/') })).rejects.toBeInstanceOf(TelescopeError);
  });

  it('refuses bad requests before touching the network', async () => {
    const seen: string[] = [];
    await expect(httpsRequest(opener(seen), { method: 'GET', url: new URL('http://site.test/') })).rejects.toBeInstanceOf(TelescopeError);
    await expect(httpsRequest(opener(seen), { method: 'G T', url: new URL('https://site.test/') })).rejects.toBeInstanceOf(TelescopeError);
    await expect(httpsRequest(opener(seen), { method: 'GET', url: new URL('https://site.test/'), headers: { 'X-A': 'b\r\nEvil: 1' } })).rejects.toBeInstanceOf(TelescopeError);
    await expect(httpsRequest(opener(seen), { method: 'GET', url: new URL('https://site.test/') }, { extraCaPem: ['not a certificate'] })).rejects.toBeInstanceOf(CertificateError);
    expect(seen).toEqual([]);
  });
});

describe('HttpsPool: TLS connections kept per first-party site', () => {
  const o = () => ({ extraCaPem: [ca.caPem] });
  const get = (path: string, host = 'site.test') => ({ method: 'GET', url: new URL(`https://${host}:${port}${path}`) });

  /** An opener whose streams can be killed, as a destroyed circuit kills its streams. */
  function killableOpener(seen: string[]): { open: StreamOpener; kill(): void } {
    const sockets: Socket[] = [];
    return {
      open: async (host, p) => {
        seen.push(`${host}:${p}`);
        const socket = connect(port, '127.0.0.1');
        await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
        sockets.push(socket);
        return socketStream(socket);
      },
      kill: () => { for (const s of sockets.splice(0)) s.destroy(new Error('circuit destroyed')); },
    };
  }

  it('sends a site\'s requests over one stream and one TLS connection', async () => {
    const pool = new HttpsPool();
    const seen: string[] = [];
    const before = tlsConnections;
    for (const path of ['/hello', '/echo', '/gzip', '/304', '/cookies', '/big', '/hello']) {
      const r = await pool.request('site.test', opener(seen), get(path), o());
      expect(r.status).toBeGreaterThanOrEqual(200);
    }
    expect(seen).toEqual([`site.test:${port}`]);
    expect(tlsConnections - before).toBe(1);
    pool.forgetAll();
  });

  it('never shares a session between two sites', async () => {
    const pool = new HttpsPool();
    const a: string[] = [];
    const b: string[] = [];
    const before = tlsConnections;
    for (let i = 0; i < 2; i++) {
      expect((await pool.request('a.example', opener(a), get('/hello'), o())).status).toBe(200);
      expect((await pool.request('b.example', opener(b), get('/hello'), o())).status).toBe(200);
    }
    expect(a).toEqual([`site.test:${port}`]);
    expect(b).toEqual([`site.test:${port}`]);
    expect(tlsConnections - before).toBe(2);
    expect(pool.size).toBe(2);
    pool.forgetAll();
    expect(pool.size).toBe(0);
  });

  it('opens a new stream after forgetSite, and leaves other sites\' connections alone', async () => {
    const pool = new HttpsPool();
    const a: string[] = [];
    const b: string[] = [];
    await pool.request('a.example', opener(a), get('/hello'), o());
    await pool.request('b.example', opener(b), get('/hello'), o());
    pool.forgetSite('a.example');
    expect(pool.size).toBe(1);
    expect((await pool.request('a.example', opener(a), get('/hello'), o())).status).toBe(200);
    expect((await pool.request('b.example', opener(b), get('/hello'), o())).status).toBe(200);
    expect(a).toHaveLength(2);
    expect(b).toHaveLength(1);
    pool.forgetAll();
  });

  it('does not reuse a connection whose stream died: the next request opens a new one', async () => {
    const pool = new HttpsPool();
    const seen: string[] = [];
    const k = killableOpener(seen);
    expect((await pool.request('site.test', k.open, get('/hello'), o())).status).toBe(200);
    k.kill();
    await new Promise((r) => setTimeout(r, 20));
    const r = await pool.request('site.test', k.open, get('/hello'), o());
    expect(new TextDecoder().decode(r.body)).toBe('hello over TLS');
    expect(seen).toHaveLength(2);
    pool.forgetAll();
  });

  it('fails a request in flight when its site is forgotten, with a typed error', async () => {
    const pool = new HttpsPool();
    let release: () => void = () => {};
    const held = new Promise<void>((r) => { release = r; });
    const slow: StreamOpener = async (host, p) => { await held; return opener([])(host, p); };
    const pending = pool.request('site.test', slow, get('/hello'), o()).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    pool.forgetSite('site.test');
    release();
    expect(await pending).toBeInstanceOf(StreamError);
    // The forgotten session's late stream was closed, not kept; the site works again.
    expect((await pool.request('site.test', opener([]), get('/hello'), o())).status).toBe(200);
    pool.forgetAll();
  });

  it('keeps extra CAs to the session that asked for them', async () => {
    const pool = new HttpsPool();
    expect((await pool.request('site.test', opener([]), get('/hello'), o())).status).toBe(200);
    // Same site, no extra CA: its own session, which must not trust the test CA.
    await expect(pool.request('site.test', opener([]), get('/hello'))).rejects.toBeInstanceOf(CertificateError);
    expect((await pool.request('site.test', opener([]), get('/hello'), o())).status).toBe(200);
    pool.forgetAll();
  });

  it('keeps HEAD, 204, 304 and the body limit as they were, on a kept connection', async () => {
    const pool = new HttpsPool();
    const seen: string[] = [];
    const head = await pool.request('site.test', opener(seen), { method: 'HEAD', url: new URL(`https://site.test:${port}/big`) }, o());
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(BIG.length));
    expect(head.body.length).toBe(0);
    expect((await pool.request('site.test', opener(seen), get('/cookies'), o())).status).toBe(204);
    expect((await pool.request('site.test', opener(seen), get('/304'), o())).status).toBe(304);
    await expect(pool.request('site.test', opener(seen), get('/big'), { ...o(), maxBodyBytes: 1000 })).rejects.toBeInstanceOf(StreamError);
    const big = await pool.request('site.test', opener(seen), get('/big'), o());
    expect(equalBytes(big.body, BIG)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    // Aborted transfers (the HEAD, the body over the limit) are counted out: curl's timer stops.
    const [session] = [...(pool as unknown as { sessions: Map<string, { session: { active_requests: number; event_loop: unknown } }> }).sessions.values()];
    expect(session?.session.active_requests).toBe(0);
    expect(session?.session.event_loop).toBeNull();
    pool.forgetAll();
  });

  it('runs concurrent requests of a site, each answered with its own response', async () => {
    const pool = new HttpsPool();
    const seen: string[] = [];
    const rs = await Promise.all(['/hello', '/gzip', '/big', '/hello', '/echo'].map((p) => pool.request('site.test', opener(seen), get(p), o())));
    expect(new TextDecoder().decode(rs[0]!.body)).toBe('hello over TLS');
    expect(new TextDecoder().decode(rs[1]!.body)).toBe('squeezed '.repeat(100));
    expect(equalBytes(rs[2]!.body, BIG)).toBe(true);
    expect(rs[4]!.status).toBe(201);
    // HTTP/1.1 here: up to 6 connections to one server, as browsers do.
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen.length).toBeLessThanOrEqual(6);
    pool.forgetAll();
  });

  it('closes idle sessions and keeps at most maxSessions', async () => {
    const pool = new HttpsPool({ idleMs: 1000, maxSessions: 2 });
    const seen: string[] = [];
    for (const site of ['a', 'b', 'c']) await pool.request(site, opener(seen), get('/hello'), o());
    expect(pool.size).toBe(2);
    await new Promise((r) => setTimeout(r, 1300));
    expect(pool.size).toBe(0);
    await pool.request('a', opener(seen), get('/hello'), o());
    expect(seen).toHaveLength(4);
    pool.forgetAll();
  });

  it('measures 10 sequential GETs: a session per request vs a kept connection', async () => {
    const pool = new HttpsPool();
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) await httpsRequest(opener([]), get('/hello'), o());
    const t1 = performance.now();
    for (let i = 0; i < 10; i++) await pool.request('site.test', opener([]), get('/hello'), o());
    const t2 = performance.now();
    console.log(`10 sequential HTTPS GETs over loopback: ${(t1 - t0).toFixed(0)} ms with a TLS handshake each, ${(t2 - t1).toFixed(0)} ms on a kept connection`);
    pool.forgetAll();
  });
});

describe('SOCKS5 server side', () => {
  it('reads a greeting and a CONNECT by name, by IPv4 and by IPv6', () => {
    expect(readSocksGreeting(Uint8Array.of(5))).toBeNull();
    expect(readSocksGreeting(Uint8Array.of(5, 2, 0, 2))).toBe(4);
    const name = new TextEncoder().encode('example.com');
    const byName = Uint8Array.of(5, 1, 0, 3, name.length, ...name, 1, 187);
    expect(readSocksConnect(byName)).toEqual({ host: 'example.com', port: 443, length: byName.length });
    expect(readSocksConnect(byName.subarray(0, byName.length - 1))).toBeNull();
    expect(readSocksConnect(Uint8Array.of(5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90))).toEqual({ host: '127.0.0.1', port: 8080, length: 10 });
    const v6 = Uint8Array.of(5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80);
    expect(readSocksConnect(v6)).toEqual({ host: '2001:db8:0:0:0:0:0:1', port: 80, length: 22 });
  });

  it('rejects what curl never sends', () => {
    expect(() => readSocksGreeting(Uint8Array.of(4, 1, 0))).toThrow(TelescopeError);
    expect(() => readSocksGreeting(Uint8Array.of(5, 1, 2))).toThrow(TelescopeError);
    expect(() => readSocksConnect(Uint8Array.of(5, 2, 0, 1, 1, 2, 3, 4, 0, 80))).toThrow(TelescopeError);
    expect(() => readSocksConnect(Uint8Array.of(5, 1, 0, 3, 3, 0x61, 0x20, 0x62, 0, 80))).toThrow(TelescopeError);
    expect(() => readSocksConnect(Uint8Array.of(5, 1, 0, 1, 1, 2, 3, 4, 0, 0))).toThrow(TelescopeError);
  });

  it('gives null or a typed error on any input, and reads back any name it is given', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      for (const f of [readSocksGreeting, readSocksConnect]) {
        try { f(b); } catch (e) { expect(e).toBeInstanceOf(TelescopeError); }
      }
    }), { numRuns: 2000 });
    const label = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
    fc.assert(fc.property(fc.array(label, { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 65535 }), (labels, p) => {
      const host = labels.join('.');
      const req = Uint8Array.of(5, 1, 0, 3, host.length, ...new TextEncoder().encode(host), p >> 8, p & 0xff);
      expect(readSocksConnect(req)).toEqual({ host, port: p, length: req.length });
    }));
  });
});

describe('extra CA certificates', () => {
  it('reads PEM blocks and refuses anything else', () => {
    const ders = parsePemCertificates(`comment\n${ca.caPem}\n${otherCa.caPem}`);
    expect(ders).toHaveLength(2);
    expect(ders[0]![0]).toBe(0x30);
    expect(() => parsePemCertificates('-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----')).toThrow(CertificateError);
    expect(() => parsePemCertificates('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')).toThrow(CertificateError);
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => {
      try { parsePemCertificates(`-----BEGIN CERTIFICATE-----\n${s}\n-----END CERTIFICATE-----`); } catch (e) { expect(e).toBeInstanceOf(TelescopeError); }
    }));
  });
});
