import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex, Reader, Writer } from '../bytes/index.ts';
import { ProtocolError } from '../util/index.ts';
import { ChanCmd } from './channel/command.ts';
import { CellDecoder, encodeCell, type ChannelCell } from './channel/framing.ts';
import {
  AuthChallenge, Authenticate, Create2, Created2, CreateFast, CreatedFast, Destroy, Netinfo, Padding, PaddingNegotiate, Relay,
  UnrecognizedChanMsg, Versions, Vpadding, decodeChanMsg, encodeChanMsg, type ChanMsg,
} from './channel/messages.ts';
import { CertsCell } from './channel/certs.ts';
import { formatIp, parseIp } from '../addr/index.ts';
import { readTorAddress, torAddressOf, writeTorAddress, type TorAddress } from './address.ts';
import link from './fixtures/link.json';

const hex = (s: string) => fromHex(s.replace(/\s+/g, ''));
const framing = link.framing as Record<string, string | number>;
const sample = (prefix: string) => String(Object.entries(framing).find(([k]) => k.startsWith(prefix))![1]);

/** A cell framed and decoded again, the body trimmed back to what the message encodes. */
function decodeOne(bytes: Uint8Array, linkVersion: number): ChannelCell {
  const d = new CellDecoder(linkVersion);
  const cells = d.push(bytes);
  expect(cells).toHaveLength(1);
  expect(d.buffered).toBe(0);
  return cells[0]!;
}

describe('channel cells: published samples', () => {
  it('VERSIONS with 2-byte circuit id before negotiation', () => {
    const bytes = hex(sample('VERSIONS'));
    const cell = decodeOne(bytes, 0);
    expect(cell.command).toBe(ChanCmd.VERSIONS);
    const msg = decodeChanMsg(cell.command, cell.body) as Versions;
    expect(msg.versions).toEqual([3, 4, 5]);
    expect(msg.bestCommon([4, 5])).toBe(5);
    expect(toHex(encodeCell({ circId: 0, command: ChanCmd.VERSIONS, body: msg.encode() }, 0))).toBe(toHex(bytes));
  });

  it('empty CERTS, AUTH_CHALLENGE and VPADDING with 4-byte circuit ids', () => {
    for (const name of ['CERTS_cell_empty', 'AUTH_CHALLENGE_cell', 'VPADDING_cell']) {
      const bytes = hex(sample(name));
      const cell = decodeOne(bytes, 4);
      const msg = decodeChanMsg(cell.command, cell.body);
      const { command, body } = encodeChanMsg(msg);
      expect(toHex(encodeCell({ circId: cell.circId, command, body }, 4))).toBe(toHex(bytes));
    }
    const ac = decodeChanMsg(ChanCmd.AUTH_CHALLENGE, hex(link.AUTH_CHALLENGE_body_hex)) as AuthChallenge;
    expect(ac.methods).toEqual([1, 3]);
    expect(toHex(ac.encode())).toBe(link.AUTH_CHALLENGE_body_hex.toLowerCase());
  });

  it('NETINFO as a zero-padded fixed cell', () => {
    for (const name of ['NETINFO_prefix (', 'NETINFO_prefix_with_time']) {
      const prefix = hex(sample(name).split(': ').pop()!);
      const bytes = new Uint8Array(514);
      bytes.set(prefix);
      const cell = decodeOne(bytes, 4);
      const msg = decodeChanMsg(cell.command, cell.body) as Netinfo;
      expect(msg).toBeInstanceOf(Netinfo);
      expect(formatIp(msg.otherAddress.bytes)).toBe('127.0.0.2');
      expect(msg.myAddresses.map((a) => formatIp(a.bytes))).toEqual(['127.0.0.3']);
      expect(toHex(encodeCell({ circId: 0, command: ChanCmd.NETINFO, body: msg.encode() }, 4))).toBe(toHex(bytes));
    }
  });

  it('the real CERTS cell frames into certificates of types 1, 2, 4, 5, 7', () => {
    const body = hex(link.certs_cell_body_hex);
    const certs = CertsCell.decode(body);
    expect(certs.certs.map((c) => c.type)).toEqual(link.cert_types);
    expect(toHex(certs.encode())).toBe(toHex(body));
  });

  it('link protocol 3 uses 512-byte fixed cells with 2-byte circuit ids', () => {
    const bytes = encodeCell({ circId: 0x1234, command: ChanCmd.DESTROY, body: Uint8Array.of(3) }, 3);
    expect(bytes.length).toBe(512);
    const cell = decodeOne(bytes, 3);
    expect(cell.circId).toBe(0x1234);
    expect((decodeChanMsg(cell.command, cell.body) as Destroy).reason).toBe(3);
  });
});

const bytesN = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const address: fc.Arbitrary<TorAddress> = fc.oneof(
  bytesN(4).map((bytes) => ({ type: 'ipv4' as const, bytes })),
  bytesN(16).map((bytes) => ({ type: 'ipv6' as const, bytes })),
  fc.tuple(fc.integer({ min: 0, max: 255 }).filter((c) => c !== 4 && c !== 6), fc.uint8Array({ maxLength: 20 })).map(([code, bytes]) => ({ type: 'other' as const, code, bytes })),
);
const u16 = fc.integer({ min: 0, max: 0xffff });

export const chanMsgArb: fc.Arbitrary<ChanMsg> = fc.oneof(
  fc.constant(new Padding()),
  fc.uint8Array({ maxLength: 600 }).map((b) => new Vpadding(b)),
  fc.array(u16, { maxLength: 10 }).map((v) => new Versions(v)),
  fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), body: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 6 }).map((c) => new CertsCell(c)),
  fc.tuple(bytesN(32), fc.array(u16, { maxLength: 5 })).map(([c, m]) => new AuthChallenge(c, m)),
  fc.tuple(u16, fc.uint8Array({ maxLength: 400 })).map(([t, a]) => new Authenticate(t, a)),
  fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), address, fc.array(address, { maxLength: 4 })).map(([t, o, m]) => new Netinfo(t, o, m)),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), u16, u16).map(([v, c, l, h]) => new PaddingNegotiate(v, c, l, h)),
  fc.tuple(u16, fc.uint8Array({ maxLength: 505 })).map(([t, d]) => new Create2(t, d)),
  fc.uint8Array({ maxLength: 507 }).map((d) => new Created2(d)),
  bytesN(20).map((x) => new CreateFast(x)),
  fc.tuple(bytesN(20), bytesN(20)).map(([y, k]) => new CreatedFast(y, k)),
  fc.integer({ min: 0, max: 255 }).map((r) => new Destroy(r)),
  fc.tuple(bytesN(509), fc.boolean()).map(([b, e]) => new Relay(b, e)),
  fc.tuple(fc.constantFrom(1, 2, 13, 14, 200, 133), fc.uint8Array({ maxLength: 509 })).map(([c, b]) => new UnrecognizedChanMsg(c, b)),
);

describe('channel messages: properties', () => {
  it('decode(frame(encode(x))) is x, for link versions 3, 4 and 5', () => {
    fc.assert(
      fc.property(chanMsgArb, fc.constantFrom(3, 4, 5), fc.integer({ min: 0, max: 0xffff }), (msg, v, circId) => {
        const { command, body } = encodeChanMsg(msg);
        const cell = decodeOne(encodeCell({ circId, command, body }, v), v);
        expect(cell.circId).toBe(circId);
        const back = decodeChanMsg(cell.command, cell.body);
        if (msg instanceof UnrecognizedChanMsg && cell.body.length !== msg.body.length) {
          // Fixed-length unknown commands come back with their zero padding.
          expect(toHex(cell.body.subarray(0, msg.body.length))).toBe(toHex(msg.body));
        } else {
          expect(back).toEqual(msg);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('random bodies give a message or a ProtocolError, nothing else', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 600 }), (command, body) => {
        try {
          decodeChanMsg(command, body);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('truncated variable-length bodies are rejected with ProtocolError', () => {
    fc.assert(
      fc.property(chanMsgArb.filter((m) => m instanceof AuthChallenge || m instanceof Authenticate || m instanceof CertsCell), fc.nat(), (msg, cut) => {
        const body = msg.encode();
        fc.pre(body.length > 0);
        expect(() => decodeChanMsg(msg.command, body.subarray(0, cut % body.length))).toThrow(ProtocolError);
      }),
    );
  });
});

describe('CellDecoder', () => {
  it('yields the same cells however the stream is split', () => {
    fc.assert(
      fc.property(fc.array(chanMsgArb, { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 700 }), { maxLength: 20 }), (msgs, cuts) => {
        const wire = msgs.map((m) => encodeCell({ circId: 7, ...encodeChanMsg(m) }, 4));
        const stream = new Uint8Array(wire.reduce((n, w) => n + w.length, 0));
        let o = 0;
        for (const w of wire) { stream.set(w, o); o += w.length; }
        const d = new CellDecoder(4);
        const got: ChannelCell[] = [];
        let pos = 0;
        for (const c of cuts) {
          got.push(...d.push(stream.subarray(pos, Math.min(stream.length, pos + c))));
          pos = Math.min(stream.length, pos + c);
        }
        got.push(...d.push(stream.subarray(pos)));
        expect(got.map((c) => c.command)).toEqual(msgs.map((m) => m.command));
        expect(d.buffered).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('stops after VERSIONS so the caller can switch to the negotiated framing', () => {
    const versions = encodeCell({ circId: 0, command: ChanCmd.VERSIONS, body: new Versions([4, 5]).encode() }, 0);
    const certs = encodeCell({ circId: 0, command: ChanCmd.CERTS, body: new CertsCell([]).encode() }, 4);
    const d = new CellDecoder();
    const first = d.push(Uint8Array.from([...versions, ...certs]));
    expect(first.map((c) => c.command)).toEqual([ChanCmd.VERSIONS]);
    d.linkVersion = 5;
    expect(d.push(new Uint8Array(0)).map((c) => c.command)).toEqual([ChanCmd.CERTS]);
  });

  it('refuses anything but VERSIONS before negotiation, and never buffers more than one cell', () => {
    expect(() => new CellDecoder().push(hex('0000 08 00'))).toThrow(ProtocolError);
    const d = new CellDecoder(4);
    d.push(hex('00000000 81 ffff'));
    d.push(new Uint8Array(60000));
    expect(d.buffered).toBe(60007);
    expect(d.push(new Uint8Array(5535)).length).toBe(1);
    expect(d.buffered).toBe(0);
  });

  it('random garbage gives cells or a ProtocolError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.constantFrom(0, 3, 4, 5), (bytes, v) => {
        const d = new CellDecoder(v);
        try {
          for (const cell of d.push(bytes)) decodeChanMsg(cell.command, cell.body);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
        expect(d.buffered).toBeLessThanOrEqual(65535 + 7);
      }),
      { numRuns: 500 },
    );
  });
});

describe('addresses', () => {
  it('NETINFO addresses carry IP addresses as type, length and bytes', () => {
    for (const [text, hexForm] of [['127.0.0.1', '04047f000001'], ['[2001:db8::1]', '061020010db8000000000000000000000001']] as const) {
      const a = torAddressOf(parseIp(text)!);
      const w = new Writer(32);
      writeTorAddress(w, a);
      expect(toHex(w.finish())).toBe(hexForm);
      expect(readTorAddress(new Reader(fromHex(hexForm), 'address'))).toEqual(a);
    }
    fc.assert(fc.property(fc.oneof(bytesN(4), bytesN(16)), (b) => {
      const w = new Writer(32);
      writeTorAddress(w, torAddressOf(parseIp(formatIp(b))!));
      expect(readTorAddress(new Reader(w.finish(), 'address')).bytes).toEqual(b);
    }));
  });
});
