import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex, utf8 } from '../../bytes/index.ts';
import { ProtocolError } from '../../util/index.ts';
import { RelayCmd } from './command.ts';
import { decodeRelayMsg, UnrecognizedRelayMsg, type RelayMsg } from './relay-msg.ts';
import { Begin, BeginDir, BeginFlags, Connected, Data, Drop, End, EndReason, Extend2, Extended2, Resolve, Resolved, Sendme, Truncate, Truncated } from './messages.ts';
import {
  EstablishIntro, EstablishRendezvous, IntroEstablished, Introduce1, Introduce2, IntroduceAck, Rendezvous1, Rendezvous2, RendezvousEstablished,
} from './onion-messages.ts';
import { packRelayCell, unpackRelayCell, RELAY_DATA_MAX } from './header.ts';
import type { LinkSpecifier } from './link-specifier.ts';
import { parseIp } from '../../addr/index.ts';
import sendme from '../fixtures/sendme.json';

const hex = (s: string) => fromHex(s.replace(/\s+/g, ''));

/** Decode `body` as `cmd`, check the message, and check it re-encodes to `canonical` (default: body). */
function roundTrip(cmd: number, body: string, check: (m: RelayMsg) => void, canonical = body): void {
  const msg = decodeRelayMsg(cmd, hex(body));
  expect(msg.command).toBe(cmd);
  check(msg);
  expect(toHex(msg.encode())).toBe(toHex(hex(canonical)));
}

describe('relay messages: vectors from tor (via arti\'s test suite)', () => {
  it('BEGIN', () => {
    roundTrip(RelayCmd.BEGIN, '3132372E302E302E313A3730303300', (m) => expect(m).toEqual(new Begin('127.0.0.1', 7003)));
    roundTrip(RelayCmd.BEGIN, '7777772e786b63642e636f6d3a34343300 00000003', (m) => {
      expect(m).toEqual(new Begin('www.xkcd.com', 443, BeginFlags.IPV6_OK | BeginFlags.IPV4_NOT_OK));
    });
    roundTrip(RelayCmd.BEGIN, '5b323030313a6462383a3a315d3a323200', (m) => expect(m).toEqual(new Begin('2001:db8::1', 22)));
    expect(() => decodeRelayMsg(RelayCmd.BEGIN, hex('5b3a3a5d21'))).toThrow(ProtocolError);
    expect(() => decodeRelayMsg(RelayCmd.BEGIN, hex('746f7270726f6a656374e284a22e6f72673a34343300'))).toThrow(/non-printable/);
    // Onion-service streams name only the port.
    expect(Begin.decode(new Begin('', 80).encode())).toEqual(new Begin('', 80));
  });

  it('CONNECTED', () => {
    roundTrip(RelayCmd.CONNECTED, '', (m) => expect(m).toEqual(new Connected()));
    roundTrip(RelayCmd.CONNECTED, '7F000001 00000E10', (m) => expect(m).toEqual(new Connected({ address: parseIp('127.0.0.1')!.bytes, ttl: 0xe10 })));
    roundTrip(RelayCmd.CONNECTED, '00000000 06 20010db8 00000000 00000000 00001122 00000E10', (m) => {
      expect(m).toEqual(new Connected({ address: parseIp('2001:db8::1122')!.bytes, ttl: 0xe10 }));
    });
    expect(() => decodeRelayMsg(RelayCmd.CONNECTED, hex('00000000 07 20010db8 00000000 00000000 00001122 00000E10'))).toThrow(ProtocolError);
  });

  it('END', () => {
    roundTrip(RelayCmd.END, '01', (m) => expect(m).toEqual(new End(EndReason.MISC)));
    roundTrip(RelayCmd.END, '06', (m) => expect(m).toEqual(new End(EndReason.DONE)));
    roundTrip(RelayCmd.END, '04 7f000007 00000100', (m) => expect(m).toEqual(new End(EndReason.EXITPOLICY, { address: parseIp('127.0.0.7')!.bytes, ttl: 256 })));
    roundTrip(RelayCmd.END, '04 20010db8 00000000 00000000 0000f00b 00000200', (m) => expect((m as End).exitPolicyAddress?.ttl).toBe(512));
    roundTrip(RelayCmd.END, '', (m) => expect(m).toEqual(new End(EndReason.MISC)), '01');
    roundTrip(RelayCmd.END, '04 7f000007', (m) => expect((m as End).exitPolicyAddress?.ttl).toBe(0xffffffff), '04 7f000007 ffffffff');
  });

  it('EXTEND2 and EXTENDED2', () => {
    const handshake = '03479E93EBF3FF2C58C1C9DBF2DE9DE9C2801B3E36A3E0BDB1F1A10579820243DD2E228B902940EB49EF842646E3926768C28410074BEE50A535116D657C6BFB7E5114119DC69F05DF907EF62002EA782B0A357F';
    roundTrip(RelayCmd.EXTEND2, `02 00 06 7F0000011388 02 14 03479E93EBF3FF2C58C1C9DBF2DE9DE9C2801B3E 0002 0054 ${handshake}`, (m) => {
      const e = m as Extend2;
      expect(e.linkSpecifiers).toEqual([
        { type: 'ipv4', address: parseIp('127.0.0.1')!.bytes, port: 5000 },
        { type: 'legacy-id', rsaIdentity: hex('03479E93EBF3FF2C58C1C9DBF2DE9DE9C2801B3E') },
      ]);
      expect(e.handshakeType).toBe(2);
      expect(toHex(e.handshakeData)).toBe(handshake.toLowerCase());
    });
    const reply = '0026619058EB2661834D54C2624828728F28915587CDAD1AD3373B85F33A480EEA9D3B2CEF8D39C1DBD2FA519E75296B96960690C79A28D6A0D9454F8E9634BD';
    roundTrip(RelayCmd.EXTENDED2, `0040 ${reply}`, (m) => expect(toHex((m as Extended2).handshakeData)).toBe(reply.toLowerCase()));
  });

  it('TRUNCATED, DROP, BEGIN_DIR, RESOLVE, RESOLVED', () => {
    roundTrip(RelayCmd.TRUNCATED, '08', (m) => expect(m).toEqual(new Truncated(8)));
    roundTrip(RelayCmd.DROP, '', (m) => expect(m).toBeInstanceOf(Drop));
    roundTrip(RelayCmd.BEGIN_DIR, '', (m) => expect(m).toBeInstanceOf(BeginDir));
    roundTrip(RelayCmd.RESOLVE, toHex(utf8('www.torproject.org\0')), (m) => expect(m).toEqual(new Resolve('www.torproject.org')));
    roundTrip(RelayCmd.RESOLVE, toHex(utf8('1.0.0.127.in-addr.arpa\0')), (m) => expect((m as Resolve).hostname).toBe('1.0.0.127.in-addr.arpa'));
    roundTrip(RelayCmd.RESOLVED, '', (m) => expect(m).toEqual(new Resolved([])));
    roundTrip(RelayCmd.RESOLVED, 'F0 00 00000E10', (m) => expect((m as Resolved).describe()).toEqual(['ERROR_TRANSIENT']));
    roundTrip(RelayCmd.RESOLVED, '04 04 7f000001 00000E10 04 04 7f000002 00001c20', (m) => expect((m as Resolved).describe()).toEqual(['127.0.0.1', '127.0.0.2']));
    roundTrip(RelayCmd.RESOLVED, '06 10 12340000000000000000000000005678 00000080', (m) => expect((m as Resolved).describe()).toEqual(['1234::5678']));
    roundTrip(RelayCmd.RESOLVED, '00 12 7777772e746f7270726f6a6563742e6f7267 00000258', (m) => expect((m as Resolved).describe()).toEqual(['www.torproject.org']));
    roundTrip(RelayCmd.RESOLVED, '63 12 7777772e746f7270726f6a6563742e6f7267 00000258', (m) => expect((m as Resolved).answers[0]!.type).toBe(0x63));
    expect(() => decodeRelayMsg(RelayCmd.RESOLVED, hex('04 03 010203 00000001'))).toThrow(ProtocolError);
  });

  it('SENDME v0 and v1 (prop 289)', () => {
    roundTrip(RelayCmd.SENDME, sendme.vectors[0]!.relay_msg_body_hex, (m) => expect((m as Sendme).version).toBe(0));
    roundTrip(RelayCmd.SENDME, sendme.vectors[1]!.relay_msg_body_hex, (m) => expect(toHex((m as Sendme).digest!)).toBe(sendme.vectors[1]!.fields!.data_digest_hex));
    expect(toHex(Sendme.v1(hex(sendme.example_from_c_test_computed_by_helper.digest)).encode())).toBe(sendme.example_from_c_test_computed_by_helper.payload_hex);
    expect(() => decodeRelayMsg(RelayCmd.SENDME, hex('01 0004 00112233'))).toThrow(/v1 digest/);
  });

  it('onion-service messages captured from tor', () => {
    roundTrip(RelayCmd.ESTABLISH_INTRO, '0200200450EFF847E40C180888F5EB9179F9B59F043385834B4C373C328E12FDFF46B400546514E3BA58E95409828A235B6390B3729B4CB8E8607024081C860E1A0D40DC0040AF031A801FE9822853D4674C5061B0352F7E2487415E25E25554C0DBF88146BCA9EBD2BD62338ADF3CC217658110EF38DB505C77B2FB38A1C0AF3C22C948F604', (m) => {
      const e = m as EstablishIntro;
      expect(e.authKeyType).toBe(2);
      expect(e.authKey.length).toBe(32);
      expect(e.signature.length).toBe(64);
      const { macCovered, signatureCovered } = EstablishIntro.decodeWithRanges(e.encode());
      expect(macCovered.length).toBe(1 + 2 + 32 + 1);
      expect(signatureCovered.length).toBe(macCovered.length + 32);
    });
    roundTrip(RelayCmd.ESTABLISH_RENDEZVOUS, '4AA2BAF815CEBB4B922B5BF6F545AEE0DDBE1254', (m) => expect((m as EstablishRendezvous).cookie.length).toBe(20));
    roundTrip(RelayCmd.INTRODUCE_ACK, '000000', (m) => expect(m).toEqual(new IntroduceAck(0)));
    roundTrip(RelayCmd.INTRODUCE_ACK, '', (m) => expect(m).toEqual(new IntroduceAck(0)), '000000');
    roundTrip(RelayCmd.INTRO_ESTABLISHED, '00', (m) => expect(m).toEqual(new IntroEstablished()));
    roundTrip(RelayCmd.RENDEZVOUS_ESTABLISHED, '', (m) => expect(m).toBeInstanceOf(RendezvousEstablished));
    const intro = '000000000000000000000000000000000000000002002011AAA1BA28353424061A63326C3BFF4FE4EC7EC24BB5EB740E9D167DEF103206001E99C1B9B0C24E6C63E9A182C33A8969DF94D08FD9FE98D82E21B262AE6CBC4E58971D6A38426C5D52519AB03377274AF74D2332C8FB599BFCBC5F2B02ECDAC4025EE24B63A824101E29EB9917B1C3A72E16FA2336DC81D0D483D31B9181F7CF628272FA7988301ADCE3B400880C25633718503B10C9F8909DFA50AEEDB90D7FD9D0090DBFAC4E61D527F97FD8C0A8BAB3DABF9A5E3C7FCD5FF843905F2C401743F5019B04A2F1427D3B2343A388846B7EACDD9FD46A24776D0DDDE3696A90EE36DC4732A95BFAFF871AEDE3BB5DD86047905B716148A27FF3C8A5B0F5282DD5430DA7E2A421D5274281EAC6C0EAE94EB17996EE81953FB700DD6D1DC4B7';
    roundTrip(RelayCmd.INTRODUCE1, intro, (m) => {
      const i = m as Introduce1;
      expect(i.authKeyType).toBe(2);
      expect(i.extensions).toEqual([]);
      expect(i.headerBytes().length).toBe(20 + 1 + 2 + 32 + 1);
      expect(Introduce2.fromIntroduce1(i).encode()).toEqual(i.encode());
    });
    const rend1 = Rendezvous1.decode(hex('1757F14E8378746756B5F91D7898084F646DCF5E537657DE71774B44A3A9840BB3D881F24792B74758D67B7B95468537CF9C706992F76AA87E0AC278'));
    expect(Rendezvous2.fromRendezvous1(rend1).encode().length).toBe(rend1.encode().length - 20);
  });

  it('unknown relay commands stay representable', () => {
    const m = decodeRelayMsg(99, hex('0102'));
    expect(m).toBeInstanceOf(UnrecognizedRelayMsg);
    expect(RelayCmd.nameOf(m.command)).toBe('UNKNOWN(99)');
    expect(toHex(m.encode())).toBe('0102');
  });
});

const bytesN = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const hostChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_'.split(''));
const linkSpec: fc.Arbitrary<LinkSpecifier> = fc.oneof(
  fc.tuple(bytesN(4), fc.integer({ min: 0, max: 0xffff })).map(([address, port]) => ({ type: 'ipv4' as const, address, port })),
  fc.tuple(bytesN(16), fc.integer({ min: 0, max: 0xffff })).map(([address, port]) => ({ type: 'ipv6' as const, address, port })),
  bytesN(20).map((rsaIdentity) => ({ type: 'legacy-id' as const, rsaIdentity })),
  bytesN(32).map((ed25519Identity) => ({ type: 'ed25519-id' as const, ed25519Identity })),
  fc.tuple(fc.integer({ min: 4, max: 255 }), fc.uint8Array({ maxLength: 40 })).map(([code, body]) => ({ type: 'unrecognized' as const, code, body })),
);
const ext = fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), body: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 3 });

const relayMsgArb: fc.Arbitrary<RelayMsg> = fc.oneof(
  fc.tuple(fc.string({ unit: hostChars, maxLength: 60 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 7 })).map(([h, p, f]) => new Begin(h, p, f)),
  fc.tuple(bytesN(16), fc.integer({ min: 1, max: 0xffff })).map(([a, p]) => new Begin(formatIpv6(a), p)),
  fc.uint8Array({ maxLength: RELAY_DATA_MAX }).map((d) => new Data(d)),
  fc.integer({ min: 1, max: 255 }).filter((r) => r !== 4).map((r) => new End(r)),
  fc.tuple(fc.oneof(bytesN(4), bytesN(16)), fc.integer({ min: 0, max: 0xffffffff })).map(([address, ttl]) => new End(EndReason.EXITPOLICY, { address, ttl })),
  fc.constant(new Connected()),
  fc.tuple(fc.oneof(bytesN(4).filter((a) => a.some((b) => b !== 0)), bytesN(16)), fc.integer({ min: 0, max: 0xffffffff })).map(([address, ttl]) => new Connected({ address, ttl })),
  fc.constant(new Sendme()),
  bytesN(20).map((d) => Sendme.v1(d)),
  fc.tuple(fc.integer({ min: 2, max: 255 }), fc.uint8Array({ maxLength: 50 })).map(([v, p]) => new Sendme(v, p)),
  fc.tuple(fc.array(linkSpec, { maxLength: 4 }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 200 })).map(([s, t, h]) => new Extend2(s, t, h)),
  fc.uint8Array({ maxLength: 300 }).map((h) => new Extended2(h)),
  fc.constant(new Truncate()),
  fc.integer({ min: 0, max: 255 }).map((r) => new Truncated(r)),
  fc.uint8Array({ maxLength: 100 }).map((d) => new Drop(d)),
  fc.string({ unit: hostChars, maxLength: 60 }).map((h) => new Resolve(h)),
  fc.array(fc.oneof(
    fc.tuple(bytesN(4), fc.nat()).map(([value, ttl]) => ({ type: 4, value, ttl })),
    fc.tuple(bytesN(16), fc.nat()).map(([value, ttl]) => ({ type: 6, value, ttl })),
    fc.tuple(fc.constantFrom(0, 0xf0, 0xf1, 0x63), fc.uint8Array({ maxLength: 30 }), fc.nat()).map(([type, value, ttl]) => ({ type, value, ttl })),
  ), { maxLength: 4 }).map((a) => new Resolved(a)),
  fc.constant(new BeginDir()),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }), ext, bytesN(32), fc.uint8Array({ maxLength: 64 })).map(([t, k, e, a, s]) => new EstablishIntro(t, k, e, a, s)),
  ext.map((e) => new IntroEstablished(e)),
  fc.tuple(bytesN(20), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 32 }), ext, fc.uint8Array({ maxLength: 200 })).map(([l, t, k, e, x]) => new Introduce1(l, t, k, e, x)),
  fc.tuple(bytesN(20), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 32 }), ext, fc.uint8Array({ maxLength: 200 })).map(([l, t, k, e, x]) => new Introduce2(l, t, k, e, x)),
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), ext).map(([s, e]) => new IntroduceAck(s, e)),
  bytesN(20).map((c) => new EstablishRendezvous(c)),
  fc.tuple(bytesN(20), fc.uint8Array({ maxLength: 64 })).map(([c, h]) => new Rendezvous1(c, h)),
  fc.uint8Array({ maxLength: 64 }).map((h) => new Rendezvous2(h)),
  fc.constant(new RendezvousEstablished()),
  fc.tuple(fc.integer({ min: 100, max: 255 }), fc.uint8Array({ maxLength: 50 })).map(([c, d]) => new UnrecognizedRelayMsg(c, d)),
);

function formatIpv6(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':');
}

describe('relay messages: properties', () => {
  it('decode(encode(x)) is x, also through a packed relay cell', () => {
    fc.assert(
      fc.property(relayMsgArb, fc.integer({ min: 0, max: 0xffff }), (msg, streamId) => {
        const data = msg.encode();
        expect(decodeRelayMsg(msg.command, data)).toEqual(msg);
        if (data.length <= RELAY_DATA_MAX) {
          const body = packRelayCell({ command: msg.command, streamId, data });
          const back = unpackRelayCell(body);
          expect(back.streamId).toBe(streamId);
          expect(back.command).toBe(msg.command);
          expect(decodeRelayMsg(back.command, back.data)).toEqual(msg);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('random data gives a message or a ProtocolError, nothing else', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50 }), fc.uint8Array({ maxLength: RELAY_DATA_MAX }), (command, data) => {
        try {
          decodeRelayMsg(command, data);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('truncated messages give a ProtocolError or a shorter valid message, never a crash', () => {
    fc.assert(
      fc.property(relayMsgArb, fc.nat(), (msg, cut) => {
        const data = msg.encode();
        fc.pre(data.length > 0);
        try {
          decodeRelayMsg(msg.command, data.subarray(0, cut % data.length));
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('relay cell header: padding keeps four zero bytes, and oversize lengths are refused', () => {
    const body = packRelayCell({ command: RelayCmd.DATA, streamId: 5, data: hex('aabb') }, (b) => b.fill(0xee));
    expect(toHex(body.subarray(0, 17))).toBe('0200000005000000000002aabb00000000');
    expect(body[17]).toBe(0xee);
    body[9] = 0x01;
    body[10] = 0xf3; // 499
    expect(() => unpackRelayCell(body)).toThrow(ProtocolError);
  });
});
