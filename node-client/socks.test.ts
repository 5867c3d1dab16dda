import * as net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EndReason } from '../shared/cells/index.ts';
import { StreamError } from '../shared/util/index.ts';
import { SocksReply } from '../shared/socks/index.ts';
import type { TorStream } from '../shared/stream/index.ts';
import { SocksServer, type SocksBackend } from './socks.ts';

/**
 * The SOCKS5 port against a test backend, over real sockets: the handshake as a client sees it
 * (its rules are shared/socks's, tested there byte by byte), isolation keys, the reply codes for
 * stream failures, RESOLVE, and the byte pipe in both directions.
 */

/** Enough of a TorStream for the pipe: a queue the test fills, and a record of what was written. */
class FakeStream {
  readonly written: Buffer[] = [];
  closedWith: number | undefined;
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private waiter: (() => void) | undefined;
  private writeWaiters: (() => void)[] = [];

  constructor(readonly target: string) {}

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const c = this.chunks.shift();
      if (c) return c;
      if (this.ended) return null;
      await new Promise<void>((r) => { this.waiter = r; });
    }
  }
  async write(data: Uint8Array): Promise<void> {
    this.written.push(Buffer.from(data));
    for (const w of this.writeWaiters.splice(0)) w();
  }
  close(reason: number = EndReason.DONE): void {
    this.closedWith ??= reason;
  }
  push(data: string | Uint8Array): void {
    this.chunks.push(typeof data === 'string' ? Buffer.from(data) : data);
    this.wake();
  }
  end(): void {
    this.ended = true;
    this.wake();
  }
  /** Resolves once `n` bytes have been written to the stream. */
  async waitForWritten(n: number): Promise<Buffer> {
    while (Buffer.concat(this.written).length < n) await new Promise<void>((r) => this.writeWaiters.push(r));
    return Buffer.concat(this.written);
  }
  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

class TestBackend implements SocksBackend {
  readonly connects: { host: string; port: number; isolationKey: string }[] = [];
  readonly resolves: { host: string; isolationKey: string }[] = [];
  readonly streams: FakeStream[] = [];
  connectError: unknown;
  /** Hold connect() back this long, as building a circuit and opening a stream takes time. */
  connectDelayMs = 0;
  resolveAnswer: string[] | Error = ['93.184.216.34'];

  async connect(host: string, port: number, isolationKey: string): Promise<TorStream> {
    this.connects.push({ host, port, isolationKey });
    if (this.connectDelayMs > 0) await new Promise((r) => setTimeout(r, this.connectDelayMs));
    if (this.connectError !== undefined) throw this.connectError;
    const s = new FakeStream(`${host}:${port}`);
    this.streams.push(s);
    return s as unknown as TorStream;
  }
  async resolve(host: string, isolationKey: string): Promise<string[]> {
    this.resolves.push({ host, isolationKey });
    if (this.resolveAnswer instanceof Error) throw this.resolveAnswer;
    return this.resolveAnswer;
  }
}

/** A SOCKS client socket with exact-length reads. */
class Client {
  private buf = Buffer.alloc(0);
  private ended = false;
  private closed = false;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => { this.buf = Buffer.concat([this.buf, c]); this.wake(); });
    socket.on('end', () => { this.ended = true; this.wake(); });
    socket.on('close', () => { this.ended = true; this.closed = true; this.wake(); });
    socket.on('error', () => { /* a reset shows up as close */ });
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }

  write(...parts: (number[] | Buffer | string)[]): void {
    this.socket.write(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p)))));
  }

  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.ended) throw new Error(`connection ended after ${this.buf.length} of ${n} bytes`);
      await this.next();
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Everything until the server ends the connection. */
  async rest(): Promise<Buffer> {
    while (!this.ended) await this.next();
    const out = this.buf;
    this.buf = Buffer.alloc(0);
    return out;
  }

  async waitClosed(): Promise<void> {
    while (!this.closed) await this.next();
  }

  private next(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

const NO_AUTH = [5, 1, 0];
const domainRequest = (cmd: number, host: string, port: number) => [5, cmd, 0, 3, host.length, ...Buffer.from(host, 'latin1'), port >> 8, port & 0xff];
const SUCCESS_V4 = [5, 0, 0, 1, 0, 0, 0, 0, 0, 0];

let backend: TestBackend;
let server: SocksServer;
let port: number;
const clients: Client[] = [];

async function client(): Promise<Client> {
  const c = await Client.connect(port);
  clients.push(c);
  return c;
}

/** Greeting without authentication, answered with method 0. */
async function greeted(): Promise<Client> {
  const c = await client();
  c.write(NO_AUTH);
  expect([...(await c.read(2))]).toEqual([5, 0]);
  return c;
}

/** Username/password negotiation (RFC 1929), answered with success. */
async function authenticated(user: string, pass: string): Promise<Client> {
  const c = await client();
  c.write([5, 1, 2]);
  expect([...(await c.read(2))]).toEqual([5, 2]);
  c.write([1, user.length], user, [pass.length], pass);
  expect([...(await c.read(2))]).toEqual([1, 0]);
  return c;
}

beforeEach(async () => {
  backend = new TestBackend();
  server = new SocksServer(backend);
  port = await server.listen(0);
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  await server.close();
});

describe('SocksServer: CONNECT', () => {
  it('listens on an ephemeral port', () => {
    expect(port).toBeGreaterThan(0);
  });

  it('passes a domain name to the backend unchanged (no local DNS)', async () => {
    const c = await greeted();
    c.write(domainRequest(1, 'Example.COM.', 443));
    expect([...(await c.read(10))]).toEqual(SUCCESS_V4);
    expect(backend.connects).toEqual([{ host: 'Example.COM.', port: 443, isolationKey: 'socks:' }]);
    const onion = await greeted();
    onion.write(domainRequest(1, 'duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion', 80));
    expect([...(await onion.read(10))]).toEqual(SUCCESS_V4);
    expect(backend.connects[1]!.host).toBe('duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion');
  });

  it('accepts IPv4 and IPv6 literals', async () => {
    const a = await greeted();
    a.write([5, 1, 0, 1, 93, 184, 216, 34, 0, 80]);
    expect([...(await a.read(10))]).toEqual(SUCCESS_V4);
    expect(backend.connects[0]).toMatchObject({ host: '93.184.216.34', port: 80 });
    const b = await greeted();
    b.write([5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0xbb]);
    expect([...(await b.read(10))]).toEqual(SUCCESS_V4);
    expect(backend.connects[1]).toMatchObject({ host: '2001:db8::1', port: 443 });
  });

  it('gives each username/password pair its own isolation key', async () => {
    const keys: string[] = [];
    for (const [user, pass] of [['alice', 'x'], ['bob', 'x'], ['alice', 'y'], ['alice', 'x'], ['', '']]) {
      const c = await authenticated(user!, pass!);
      c.write(domainRequest(1, 'example.com', 80));
      expect([...(await c.read(10))]).toEqual(SUCCESS_V4);
      keys.push(backend.connects.at(-1)!.isolationKey);
    }
    const noAuth = await greeted();
    noAuth.write(domainRequest(1, 'example.com', 80));
    await noAuth.read(10);
    keys.push(backend.connects.at(-1)!.isolationKey);
    expect(keys[0]).toBe(keys[3]);
    expect(new Set([keys[0], keys[1], keys[2], keys[4], keys[5]]).size).toBe(5);
    // "ab"+"c" and "a"+"bc" must not collide.
    const k1 = await authenticated('ab', 'c');
    k1.write(domainRequest(1, 'example.com', 80));
    await k1.read(10);
    const k2 = await authenticated('a', 'bc');
    k2.write(domainRequest(1, 'example.com', 80));
    await k2.read(10);
    expect(backend.connects.at(-1)!.isolationKey).not.toBe(backend.connects.at(-2)!.isolationKey);
  });

  it('prefers username/password when the client offers both methods', async () => {
    const c = await client();
    c.write([5, 2, 0, 2]);
    expect([...(await c.read(2))]).toEqual([5, 2]);
  });

  it('maps stream failures to SOCKS reply codes and closes the connection', async () => {
    const cases: [unknown, number][] = [
      [new StreamError('refused', EndReason.EXITPOLICY), 2],
      [new StreamError('no such host', EndReason.RESOLVEFAILED), 4],
      [new StreamError('refused', EndReason.CONNECTREFUSED), 5],
      [new StreamError('slow', EndReason.TIMEOUT), 6],
      [new StreamError('no route', EndReason.NOROUTE), 3],
      [new StreamError('misc', EndReason.MISC), 1],
      [new Error('bug'), 1],
    ];
    for (const [error, code] of cases) {
      backend.connectError = error;
      const c = await greeted();
      c.write(domainRequest(1, 'example.com', 80));
      const reply = await c.rest();
      expect([...reply]).toEqual([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
  });

  it('answers an unsupported command with reply 7 and an unsupported address type with 8', async () => {
    const bind = await greeted();
    bind.write(domainRequest(2, 'example.com', 80));
    expect([...(await bind.rest())]).toEqual([5, SocksReply.COMMAND_NOT_SUPPORTED, 0, 1, 0, 0, 0, 0, 0, 0]);
    const udp = await greeted();
    udp.write(domainRequest(3, 'example.com', 80));
    expect((await udp.rest())[1]).toBe(7);
    const atyp = await greeted();
    atyp.write([5, 1, 0, 2, 1, 2, 3, 4, 0, 80]);
    expect((await atyp.rest())[1]).toBe(SocksReply.ADDRESS_TYPE_NOT_SUPPORTED);
    expect(backend.connects).toEqual([]);
  });
  it('answers RESOLVE_PTR with reply 7 and a host name that cannot go in a BEGIN cell with reply 1', async () => {
    const ptr = await greeted();
    ptr.write([5, 0xf1, 0, 1, 127, 0, 0, 1, 0, 0]);
    expect([...(await ptr.rest())]).toEqual([5, SocksReply.COMMAND_NOT_SUPPORTED, 0, 1, 0, 0, 0, 0, 0, 0]);
    const spaced = await greeted();
    spaced.write(domainRequest(1, 'a b.example', 80));
    expect([...(await spaced.rest())]).toEqual([5, SocksReply.GENERAL_FAILURE, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(backend.connects).toEqual([]);
    expect(backend.resolves).toEqual([]);
  });

  it('closes the stream when the client went away while it was being opened', async () => {
    backend.connectDelayMs = 50;
    const c = await greeted();
    c.write(domainRequest(1, 'example.com', 80));
    await new Promise((r) => setTimeout(r, 10));
    expect(backend.connects.length).toBe(1);
    c.socket.destroy();
    for (let i = 0; i < 50 && backend.streams[0]?.closedWith === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    expect(backend.streams.length).toBe(1);
    expect(backend.streams[0]!.closedWith).toBe(EndReason.DONE);
  });
});

describe('SocksServer: RESOLVE (0xF0)', () => {
  it('replies with the address the backend resolved', async () => {
    backend.resolveAnswer = ['93.184.216.34'];
    const c = await greeted();
    c.write(domainRequest(0xf0, 'example.com', 0));
    expect([...(await c.rest())]).toEqual([5, 0, 0, 1, 93, 184, 216, 34, 0, 0]);
    expect(backend.resolves).toEqual([{ host: 'example.com', isolationKey: 'socks:' }]);
    expect(backend.connects).toEqual([]);
  });

  it('replies with an IPv6 address, skipping answers that are not addresses', async () => {
    backend.resolveAnswer = ['not-an-ip', '2001:db8::1'];
    const c = await greeted();
    c.write(domainRequest(0xf0, 'example.com', 0));
    expect([...(await c.rest())]).toEqual([5, 0, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
  });

  it('reports failures with a reply code', async () => {
    backend.resolveAnswer = new StreamError('RESOLVE refused', EndReason.RESOLVEFAILED);
    const c = await greeted();
    c.write(domainRequest(0xf0, 'nonexistent.example', 0));
    expect((await c.rest())[1]).toBe(SocksReply.HOST_UNREACHABLE);
    backend.resolveAnswer = [];
    const d = await greeted();
    d.write(domainRequest(0xf0, 'empty.example', 0));
    expect((await d.rest())[1]).toBe(SocksReply.HOST_UNREACHABLE);
  });
});

describe('SocksServer: bad clients', () => {
  it('closes the connection on a garbage greeting without answering', async () => {
    for (const garbage of [[4, 1, 0, 80, 1, 2, 3, 4, 0], [...Buffer.from('GET / HTTP/1.1\r\n\r\n')], [0xff, 0xff]]) {
      const c = await client();
      c.write(garbage);
      expect((await c.rest()).length).toBe(0);
      await c.waitClosed();
    }
    expect(backend.connects).toEqual([]);
  });

  it('refuses clients that offer no method it supports', async () => {
    const c = await client();
    c.write([5, 1, 0x80]);
    expect([...(await c.rest())]).toEqual([5, 0xff]);
  });

  it('closes on a bad username/password version or request version', async () => {
    const a = await client();
    a.write([5, 1, 2]);
    await a.read(2);
    a.write([2, 1, 65, 1, 66]);
    expect((await a.rest()).length).toBe(0);
    const b = await greeted();
    b.write([4, 1, 0, 3, 1, 65, 0, 80]);
    expect((await b.rest()).length).toBe(0);
    expect(backend.connects).toEqual([]);
  });

  it('closes on an oversized negotiation message', async () => {
    const c = await client();
    c.write([5, 255], Buffer.alloc(2000, 1));
    await c.waitClosed();
  });

  it('random input never crashes the server (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), async (bytes) => {
        const c = await client();
        c.write(Buffer.from(bytes));
        c.socket.end();
        await c.waitClosed();
      }),
      { numRuns: 30 },
    );
    // Still serving.
    const ok = await greeted();
    ok.write(domainRequest(1, 'example.com', 80));
    expect([...(await ok.read(10))]).toEqual(SUCCESS_V4);
  });
});

describe('SocksServer: the data pipe', () => {
  it('copies bytes both ways and closes the stream when the client is done', async () => {
    const c = await greeted();
    c.write(domainRequest(1, 'example.com', 80));
    await c.read(10);
    const stream = backend.streams[0]!;
    c.write('GET / HTTP/1.0\r\n\r\n');
    expect((await stream.waitForWritten(18)).toString()).toBe('GET / HTTP/1.0\r\n\r\n');
    stream.push('HTTP/1.0 200 OK\r\n\r\n');
    stream.push(new Uint8Array(100_000).fill(0x61));
    expect((await c.read(19)).toString()).toBe('HTTP/1.0 200 OK\r\n\r\n');
    expect((await c.read(100_000)).every((b) => b === 0x61)).toBe(true);
    c.socket.end();
    await c.waitClosed().catch(() => undefined);
    for (let i = 0; i < 50 && stream.closedWith === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    expect(stream.closedWith).toBe(EndReason.DONE);
  });

  it('delivers data sent together with the request', async () => {
    const c = await greeted();
    c.write(domainRequest(1, 'example.com', 80), 'early bytes');
    expect([...(await c.read(10))]).toEqual(SUCCESS_V4);
    expect((await backend.streams[0]!.waitForWritten(11)).toString()).toBe('early bytes');
  });

  it('ends the client connection when the stream ends', async () => {
    const c = await greeted();
    c.write(domainRequest(1, 'example.com', 80));
    await c.read(10);
    const stream = backend.streams[0]!;
    stream.push('bye');
    stream.end();
    expect((await c.rest()).toString()).toBe('bye');
  });

  it('large uploads arrive whole and in order', async () => {
    const c = await greeted();
    c.write(domainRequest(1, 'example.com', 80));
    await c.read(10);
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff));
    c.write(data);
    expect((await backend.streams[0]!.waitForWritten(data.length)).equals(data)).toBe(true);
  });
});
