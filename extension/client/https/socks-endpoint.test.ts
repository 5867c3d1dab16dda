import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EndReason } from '../../../shared/cells/index.ts';
import { StreamError } from '../../../shared/util/index.ts';
import { SocksHandshakeError } from '../../../shared/socks/index.ts';
import { CurlSocksEndpoint } from './socks-endpoint.ts';

/** curl's socks5h client as the endpoint hears it: the greeting, then a CONNECT by name or address. */
const name = (host: string, port: number) => [5, 1, 0, 3, host.length, ...new TextEncoder().encode(host), port >> 8, port & 0xff];
const replies = (p: { replies: readonly Uint8Array[] }) => p.replies.map((r) => [...r]);

describe('CurlSocksEndpoint', () => {
  it('answers the greeting and reads a CONNECT by name, by IPv4 and by IPv6, in pieces', () => {
    const e = new CurlSocksEndpoint();
    expect(e.receive(Uint8Array.of(5))).toEqual({ replies: [] });
    expect(replies(e.receive(Uint8Array.of(1, 0)))).toEqual([[5, 0]]);
    const req = name('example.com', 443);
    expect(e.receive(Uint8Array.from(req.slice(0, 7)))).toEqual({ replies: [] });
    expect(e.receive(Uint8Array.from([...req.slice(7), 0x16, 3]))).toEqual({ replies: [], connect: { host: 'example.com', port: 443, early: Uint8Array.of(0x16, 3) } });
    const v4 = new CurlSocksEndpoint().receive(Uint8Array.of(5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90));
    expect(v4.connect).toEqual({ host: '127.0.0.1', port: 8080, early: new Uint8Array(0) });
    const v6 = new CurlSocksEndpoint().receive(Uint8Array.of(5, 1, 0, 5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80));
    expect(v6.connect?.host).toBe('2001:db8::1');
  });

  it('refuses what curl never sends, with the reply the shared handshake gives', () => {
    const refused = (...bytes: number[]) => {
      const p = new CurlSocksEndpoint().receive(Uint8Array.from(bytes));
      expect(p.error).toBeInstanceOf(SocksHandshakeError);
      expect(p.connect).toBeUndefined();
      return replies(p);
    };
    expect(refused(4, 1, 0)).toEqual([]);
    expect(refused(5, 1, 0x80)).toEqual([[5, 0xff]]);
    expect(refused(5, 1, 0, 5, 2, 0, 1, 1, 2, 3, 4, 0, 80)).toEqual([[5, 0], [5, 7, 0, 1, 0, 0, 0, 0, 0, 0]]);
    expect(refused(5, 1, 0, ...name('a b', 80))).toEqual([[5, 0], [5, 1, 0, 1, 0, 0, 0, 0, 0, 0]]);
    expect(refused(5, 1, 0, 5, 1, 0, 1, 1, 2, 3, 4, 0, 0)).toEqual([[5, 0], [5, 1, 0, 1, 0, 0, 0, 0, 0, 0]]);
    // tor's RESOLVE is a request curl never makes: command not supported here.
    expect(refused(5, 1, 0, ...name('example.com', 0).map((b, i) => (i === 1 ? 0xf0 : b)))).toEqual([[5, 0], [5, 7, 0, 1, 0, 0, 0, 0, 0, 0]]);
  });

  it('answers a granted CONNECT with success and a failed one with the END reason\'s code', () => {
    expect([...CurlSocksEndpoint.granted()]).toEqual([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(CurlSocksEndpoint.refused(new StreamError('no such host', EndReason.RESOLVEFAILED))[1]).toBe(4);
    expect(CurlSocksEndpoint.refused(new StreamError('refused', EndReason.EXITPOLICY))[1]).toBe(2);
    expect(CurlSocksEndpoint.refused(new Error('bug'))[1]).toBe(1);
  });

  it('gives replies, a target or an error for any input, and reads back any name it is given', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const p = new CurlSocksEndpoint().receive(b);
      if (p.error) expect(p.connect).toBeUndefined();
    }), { numRuns: 2000 });
    const label = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
    fc.assert(fc.property(fc.array(label, { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 65535 }), (labels, p) => {
      const host = labels.join('.');
      expect(new CurlSocksEndpoint().receive(Uint8Array.from([5, 1, 0, ...name(host, p)])).connect).toEqual({ host, port: p, early: new Uint8Array(0) });
    }));
  });
});
