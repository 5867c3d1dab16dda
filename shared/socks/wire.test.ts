import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { utf8 } from '../bytes/index.ts';
import { TelescopeError, UsageError } from '../util/index.ts';
import { addressFor, decodeReply, decodeRequest, encodeReply, encodeRequest, type SocksAddress, type SocksCommand } from './wire.ts';

const anyAddress: fc.Arbitrary<SocksAddress> = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((bytes) => ({ kind: 'ipv4' as const, bytes })),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => ({ kind: 'ipv6' as const, bytes })),
  fc.stringMatching(/^[!-~]{1,255}$/).map((name) => ({ kind: 'domain' as const, name })),
);

describe('requests', () => {
  it('encode IPv4 targets as ATYP 1 and names as ATYP 3', () => {
    expect([...encodeRequest({ command: 'CONNECT', address: addressFor('127.0.0.1'), port: 8080 })]).toEqual([5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]);
    expect([...encodeRequest({ command: 'CONNECT', address: addressFor('ab.onion'), port: 80 })]).toEqual([5, 1, 0, 3, 8, ...utf8('ab.onion'), 0, 80]);
    expect([...encodeRequest({ command: 'RESOLVE', address: addressFor('[::1]'), port: 0 })]).toEqual([5, 0xf0, 0, 4, ...new Array<number>(15).fill(0), 1, 0, 0]);
  });

  it('refuse bad ports and names as usage errors', () => {
    const connect = (host: string, port: number) => () => encodeRequest({ command: 'CONNECT', address: addressFor(host), port });
    expect(connect('localhost', 0)).toThrow(UsageError);
    expect(connect('localhost', 65536)).toThrow(UsageError);
    expect(connect('a'.repeat(256), 80)).toThrow(UsageError);
    expect(connect('a b', 80)).toThrow(UsageError);
    expect(connect('é.example', 80)).toThrow(UsageError);
    expect(connect('', 80)).toThrow(UsageError);
  });

  it('decode what they encode (property)', () => {
    fc.assert(fc.property(fc.constantFrom<SocksCommand>('CONNECT', 'RESOLVE', 'RESOLVE_PTR'), anyAddress, fc.integer({ min: 1, max: 65535 }), fc.uint8Array({ maxLength: 8 }), (command, address, port, after) => {
      const bytes = encodeRequest({ command, address, port });
      const fields = decodeRequest(Uint8Array.from([...bytes, ...after]));
      expect(fields).toEqual({ version: 5, commandCode: bytes[1], reserved: 0, address, port, length: bytes.length });
      for (let n = 0; n < bytes.length; n++) expect(decodeRequest(bytes.subarray(0, n))).toBeUndefined();
    }));
  });
});

describe('replies', () => {
  it('parse each address type and wait for more bytes', () => {
    expect(decodeReply(Uint8Array.of(5, 0, 0, 1, 127, 0, 0, 1, 0, 80, 9))).toEqual({ code: 0, address: { kind: 'ipv4', bytes: Uint8Array.of(127, 0, 0, 1) }, port: 80, length: 10 });
    expect(decodeReply(Uint8Array.of(5, 4, 0, 3, 2, 97, 98, 0, 80))).toMatchObject({ code: 4, address: { kind: 'domain', name: 'ab' }, length: 9 });
    expect(decodeReply(Uint8Array.of(5, 0, 0, 4, ...new Array<number>(16).fill(0), 0, 80))).toMatchObject({ code: 0, length: 22 });
    expect(decodeReply(Uint8Array.of(5, 0, 0, 1, 127))).toBeUndefined();
  });

  it('encode "no address" as 0.0.0.0:0 unless given one', () => {
    expect([...encodeReply(0)]).toEqual([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect([...encodeReply(0, addressFor('2001:db8::1'))]).toEqual([5, 0, 0, 4, 0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1, 0, 0]);
    expect(() => encodeReply(256)).toThrow(UsageError);
  });

  it('decode what they encode (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), anyAddress, fc.integer({ min: 0, max: 65535 }), (code, address, port) => {
      const bytes = encodeReply(code, address, port);
      expect(decodeReply(bytes)).toEqual({ code, address, port, length: bytes.length });
    }));
  });

  it('give a typed error, a reply or "need more" for random bytes, never another exception', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      for (const decode of [decodeReply, decodeRequest]) {
        try {
          const r = decode(bytes);
          if (r) expect(r.length).toBeLessThanOrEqual(bytes.length);
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }
    }), { numRuns: 2000 });
  });
});
