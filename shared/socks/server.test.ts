import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { concatBytes, utf8 } from '../bytes/index.ts';
import { ProtocolError, UsageError } from '../util/index.ts';
import { SocksReply } from './reply.ts';
import { SocksHandshakeError, SocksServerHandshake, type SocksRequest } from './server.ts';
import { encodeReply } from './wire.ts';

/**
 * The server's handshake fed bytes as a host would: every rule of the SOCKS5 dialect Telescope
 * speaks (the Node SOCKS port's and the extension's libcurl endpoint's cases), and properties over
 * random input and random chunking.
 */

interface Transcript {
  /** The replies the server asked to send, in order. */
  readonly replies: number[][];
  readonly request?: SocksRequest;
  /** Bytes after the request (the client's early data). */
  readonly early?: number[];
  /** The error that ended the handshake. */
  readonly error?: unknown;
}

/** Feed `chunks` one after another, as they would arrive from a socket. */
function run(...chunks: (readonly number[] | Uint8Array)[]): Transcript {
  const hs = new SocksServerHandshake();
  const replies: number[][] = [];
  let buf: Uint8Array = new Uint8Array(0);
  try {
    for (const [i, chunk] of chunks.entries()) {
      buf = concatBytes(buf, Uint8Array.from(chunk));
      for (;;) {
        const step = hs.step(buf);
        if (step.kind === 'need-more') break;
        buf = buf.subarray(step.consumed);
        if (step.kind === 'reply') replies.push([...step.reply]);
        // Whatever follows the request is the client's data, in this chunk and the later ones.
        else return { replies, request: step.request, early: [...buf, ...chunks.slice(i + 1).flatMap((c) => [...c])] };
      }
    }
  } catch (error) {
    return { replies, error };
  }
  return { replies };
}

const NO_AUTH = [5, 1, 0];
const request = (cmd: number, host: string, port: number) => [5, cmd, 0, 3, host.length, ...utf8(host), port >> 8, port & 0xff];
const userpass = (user: string, pass: string) => [1, user.length, ...utf8(user), pass.length, ...utf8(pass)];
const refusedWith = (t: Transcript) => (t.error instanceof SocksHandshakeError ? t.error.reply && [...t.error.reply] : 'no handshake error');

describe('SocksServerHandshake: methods', () => {
  it('answers "no authentication", then takes a CONNECT by name unchanged (no local DNS)', () => {
    const t = run(NO_AUTH, request(1, 'Example.COM.', 443));
    expect(t.replies).toEqual([[5, 0]]);
    expect(t.request).toEqual({ command: 'CONNECT', address: { kind: 'domain', name: 'Example.COM.' }, host: 'Example.COM.', port: 443, auth: undefined });
    const onion = 'duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion';
    expect(run(NO_AUTH, request(1, onion, 80)).request?.host).toBe(onion);
  });

  it('prefers username/password when offered and hands over any credentials as bytes', () => {
    const t = run([5, 2, 0, 2], userpass('alice', 'x'), request(1, 'example.com', 80));
    expect(t.replies).toEqual([[5, 2], [1, 0]]);
    expect(t.request?.auth).toEqual({ username: utf8('alice'), password: utf8('x') });
    // Empty credentials are credentials too (RFC 1929 asks for 1..255; tor and curl send 0).
    expect(run([5, 1, 2], userpass('', ''), request(1, 'example.com', 80)).request?.auth).toEqual({ username: new Uint8Array(0), password: new Uint8Array(0) });
    // "ab"+"c" and "a"+"bc" stay apart.
    const a = run([5, 1, 2], userpass('ab', 'c'), request(1, 'x.example', 80)).request!.auth!;
    const b = run([5, 1, 2], userpass('a', 'bc'), request(1, 'x.example', 80)).request!.auth!;
    expect([a.username, a.password]).not.toEqual([b.username, b.password]);
  });

  it('refuses a client offering neither method with X\'FF\' (also one offering none at all)', () => {
    expect(refusedWith(run([5, 1, 0x80]))).toEqual([5, 0xff]);
    expect(refusedWith(run([5, 0]))).toEqual([5, 0xff]);
  });

  it('closes without an answer on bytes that are not SOCKS5', () => {
    for (const garbage of [[4, 1, 0, 80, 1, 2, 3, 4, 0], [...utf8('GET / HTTP/1.1\r\n\r\n')], [0xff, 0xff]]) {
      const t = run(garbage);
      expect(t.error).toBeInstanceOf(SocksHandshakeError);
      expect(refusedWith(t)).toBeUndefined();
      expect(t.replies).toEqual([]);
    }
    // A bad username/password version, and a request of another version.
    expect(refusedWith(run([5, 1, 2], [2, 1, 65, 1, 66]))).toBeUndefined();
    expect(refusedWith(run(NO_AUTH, [4, 1, 0, 3, 1, 65, 0, 80]))).toBeUndefined();
  });
});

describe('SocksServerHandshake: requests', () => {
  it('takes IPv4 and IPv6 literals, the latter written as RFC 5952 text', () => {
    expect(run(NO_AUTH, [5, 1, 0, 1, 93, 184, 216, 34, 0, 80]).request).toMatchObject({ host: '93.184.216.34', port: 80, address: { kind: 'ipv4' } });
    const v6 = run(NO_AUTH, [5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0xbb]);
    expect(v6.request).toMatchObject({ host: '2001:db8::1', port: 443, address: { kind: 'ipv6' } });
  });

  it('takes tor\'s RESOLVE (port 0 allowed) and RESOLVE_PTR', () => {
    expect(run(NO_AUTH, request(0xf0, 'example.com', 0)).request).toMatchObject({ command: 'RESOLVE', host: 'example.com', port: 0 });
    expect(run(NO_AUTH, [5, 0xf1, 0, 1, 127, 0, 0, 1, 0, 0]).request).toMatchObject({ command: 'RESOLVE_PTR', host: '127.0.0.1' });
  });

  it('answers an unsupported command with reply 7 and an unsupported address type with 8', () => {
    expect(refusedWith(run(NO_AUTH, request(2, 'example.com', 80)))).toEqual([...encodeReply(SocksReply.COMMAND_NOT_SUPPORTED)]);
    expect(refusedWith(run(NO_AUTH, request(3, 'example.com', 80)))).toEqual([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(refusedWith(run(NO_AUTH, [5, 1, 0, 2, 1, 2, 3, 4, 0, 80]))).toEqual([5, 8, 0, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('answers a bad host name, a CONNECT to port 0 and a reserved byte with reply 1', () => {
    const general = [5, 1, 0, 1, 0, 0, 0, 0, 0, 0];
    expect(refusedWith(run(NO_AUTH, [5, 1, 0, 3, 3, 0x61, 0x20, 0x62, 0, 80]))).toEqual(general);
    expect(refusedWith(run(NO_AUTH, [5, 1, 0, 3, 0, 0, 80]))).toEqual(general);
    expect(refusedWith(run(NO_AUTH, [5, 1, 0, 3, 2, 0xc3, 0xa9, 0, 80]))).toEqual(general);
    expect(refusedWith(run(NO_AUTH, [5, 1, 0, 1, 1, 2, 3, 4, 0, 0]))).toEqual(general);
    expect(refusedWith(run(NO_AUTH, [5, 1, 1, 1, 1, 2, 3, 4, 0, 80]))).toEqual(general);
  });

  it('waits for whole messages, and keeps the bytes sent with the request as early data', () => {
    const greeting = run([5]);
    expect(greeting.replies).toEqual([]);
    expect(greeting.error).toBeUndefined();
    const byName = request(1, 'example.com', 443);
    const partial = run(NO_AUTH, byName.slice(0, -1));
    expect(partial.replies).toEqual([[5, 0]]);
    expect(partial.request).toBeUndefined();
    const t = run([...NO_AUTH, ...byName, ...utf8('GET /')]);
    expect(t.request?.port).toBe(443);
    expect(t.early).toEqual([...utf8('GET /')]);
  });

  it('is over after a request or an error: feeding it more is a usage error', () => {
    const hs = new SocksServerHandshake();
    expect(hs.step(Uint8Array.from(NO_AUTH)).kind).toBe('reply');
    expect(hs.step(Uint8Array.from(request(1, 'a.example', 1))).kind).toBe('request');
    expect(() => hs.step(new Uint8Array(10))).toThrow(UsageError);
    const failed = new SocksServerHandshake();
    expect(() => failed.step(Uint8Array.of(4, 1))).toThrow(SocksHandshakeError);
    expect(() => failed.step(Uint8Array.of(5, 1, 0))).toThrow(UsageError);
  });
});

describe('SocksServerHandshake: properties', () => {
  /** A client's whole side: greeting, credentials when username/password is chosen, a request. */
  const transcript = fc.record({
    methods: fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }).map((m) => (m.includes(0) || m.includes(2) ? m : [...m, 0])),
    user: fc.uint8Array({ maxLength: 20 }),
    pass: fc.uint8Array({ maxLength: 20 }),
    cmd: fc.constantFrom(1, 0xf0, 0xf1),
    address: fc.oneof(
      fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => [1, ...b]),
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => [4, ...b]),
      fc.stringMatching(/^[!-~]{1,60}$/).map((s) => [3, s.length, ...utf8(s)]),
    ),
    port: fc.integer({ min: 1, max: 65535 }),
    early: fc.uint8Array({ maxLength: 30 }),
  }).map((t) => {
    const auth = t.methods.includes(2) ? [1, t.user.length, ...t.user, t.pass.length, ...t.pass] : [];
    return { ...t, bytes: [5, t.methods.length, ...t.methods, ...auth, 5, t.cmd, 0, ...t.address, t.port >> 8, t.port & 0xff, ...t.early] };
  });

  /** Cut `bytes` at the given points. */
  const cut = (bytes: number[], at: number[]): number[][] => {
    const points = [...new Set(at.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
    return [...points, bytes.length].map((end, i) => bytes.slice(i === 0 ? 0 : points[i - 1], end));
  };

  it('random bytes in random pieces: replies, need-more, a request or a SocksHandshakeError, never a crash', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, at) => {
      const t = run(...cut([...bytes], at));
      if (t.error !== undefined) expect(t.error).toBeInstanceOf(SocksHandshakeError);
    }), { numRuns: 3000 });
  });

  it('random bytes after a SOCKS5 start are judged the same way (they reach every state)', () => {
    fc.assert(fc.property(fc.constantFrom([5, 1, 0], [5, 1, 2], [5, 1, 2, 1]), fc.uint8Array({ maxLength: 300 }), (start, bytes) => {
      const t = run(start, bytes);
      if (t.error !== undefined) {
        expect(t.error).toBeInstanceOf(ProtocolError);
        expect(t.error).toBeInstanceOf(SocksHandshakeError);
      }
    }), { numRuns: 3000 });
  });

  it('a valid client gets the same replies and request however its bytes are split', () => {
    fc.assert(fc.property(transcript, fc.array(fc.nat(), { maxLength: 8 }), (t, at) => {
      const whole = run(t.bytes);
      expect(whole.error).toBeUndefined();
      expect(whole.request?.port).toBe(t.port);
      expect(whole.early).toEqual([...t.early]);
      expect(whole.request?.auth).toEqual(t.methods.includes(2) ? { username: t.user, password: t.pass } : undefined);
      expect(run(...cut(t.bytes, at))).toEqual(whole);
    }), { numRuns: 500 });
  });
});
