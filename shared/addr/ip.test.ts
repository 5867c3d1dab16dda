import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex } from '../bytes/index.ts';
import { ProtocolError, UsageError } from '../util/index.ts';
import {
  formatIp,
  formatIpBracketed,
  ipFromBytes,
  ipv4MaskBits,
  isInternalAddress,
  isLoopback,
  parseIp,
  parseIpPrefix,
  parseIpv4,
  parseIpv6,
  parsePtrName,
  prefixContains,
  prefixMatches,
  requireIp,
  unmapIpv4,
} from './ip.ts';

const bytesOf = (text: string): Uint8Array => parseIp(text)!.bytes;

describe('IP address text', () => {
  it('reads and writes IPv4 and IPv6 literals', () => {
    const cases: [string, string][] = [
      ['1.2.3.4', '1.2.3.4'],
      ['0.0.0.0', '0.0.0.0'],
      ['255.255.255.255', '255.255.255.255'],
      ['::', '::'],
      ['::1', '::1'],
      ['[2001:DB8:0:0:1:0:0:1]', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['2001:db8::1122', '2001:db8::1122'],
      ['fe80::', 'fe80::'],
      ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      // A tie between two runs of zeros: the first is shortened.
      ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
      // A single zero group is never shortened.
      ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
      ['0001:0db8:0000:0000:0000:0000:0000:00FF', '1:db8::ff'],
    ];
    for (const [input, out] of cases) expect(formatIp(parseIp(input)!.bytes), input).toBe(out);
    for (const bad of ['1.2.3', '1.2.3.256', '1.2.3.4.5', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', 'g::', '[::1', 'localhost', '',
      '256.1.1.1', '1::2::3', 'example.com', '1.2.3.4::', '::1.2.3', '[1.2.3.4]', '1:2:3:4:5:6:7::8', '12345::', ' 1.2.3.4', '1.2.3.4 ']) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });

  it('gives the bytes in network order, with or without brackets around IPv6', () => {
    expect(toHex(bytesOf('127.0.0.1'))).toBe('7f000001');
    expect(toHex(bytesOf('[2001:db8::1]'))).toBe('20010db8000000000000000000000001');
    expect(toHex(bytesOf('::ffff:1.2.3.4'))).toBe('00000000000000000000ffff01020304');
    expect(parseIp('1.2.3.4')!.family).toBe(4);
    expect(parseIp('::1.2.3.4')!.family).toBe(6);
    expect(parseIpv4('1.2.3.4')).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(parseIpv4('::1')).toBeUndefined();
    expect(parseIpv6('1.2.3.4')).toBeUndefined();
    expect(parseIpv6('[::1]')).toBeUndefined();
  });

  it('writes IPv4 inside IPv6 dotted, as tor does (tor_inet_ntop)', () => {
    expect(formatIp(bytesOf('::ffff:1.2.3.4'))).toBe('::ffff:1.2.3.4');
    expect(formatIp(bytesOf('::ffff:102:304'))).toBe('::ffff:1.2.3.4');
    expect(formatIp(bytesOf('::ffff:0:1'))).toBe('::ffff:0.0.0.1');
    // IPv4-compatible: dotted only when the last two groups are both non-zero.
    expect(formatIp(bytesOf('::102:304'))).toBe('::1.2.3.4');
    expect(formatIp(bytesOf('::0.0.1.2'))).toBe('::102');
    expect(formatIp(bytesOf('::1:0'))).toBe('::1:0');
    expect(formatIp(bytesOf('1::ffff:1.2.3.4'))).toBe('1::ffff:102:304');
  });

  it('brackets IPv6 for address:port and address/bits', () => {
    expect(formatIpBracketed(bytesOf('1.2.3.4'))).toBe('1.2.3.4');
    expect(formatIpBracketed(parseIp('2001:db8::1')!)).toBe('[2001:db8::1]');
  });

  it('refuses byte strings of other lengths as a caller\'s mistake, and text that is no address as a ProtocolError', () => {
    expect(() => formatIp(new Uint8Array(5))).toThrow(UsageError);
    expect(() => ipFromBytes(new Uint8Array(0))).toThrow(UsageError);
    expect(requireIp('10.1.2.3')).toEqual({ family: 4, bytes: Uint8Array.of(10, 1, 2, 3) });
    expect(() => requireIp('example.com', 'bridge address')).toThrow(ProtocolError);
    expect(() => requireIp('example.com', 'bridge address')).toThrow(/^bridge address: 'example.com' is not/);
  });
});

describe('prefixes', () => {
  it('reads networks as tor lists them', () => {
    expect(parseIpPrefix('10.0.0.0/8')).toEqual({ address: { family: 4, bytes: Uint8Array.of(10, 0, 0, 0) }, maskBits: 8 });
    expect(parseIpPrefix('[fc00::]/7')!.maskBits).toBe(7);
    expect(parseIpPrefix('[::]/127')!.address.family).toBe(6);
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '[::]/129', '10.0.0.0/x', 'host/8', '10.0.0.0/-1', '/8']) {
      expect(parseIpPrefix(bad), bad).toBeUndefined();
    }
  });

  it('matches the first bits only, and never across families', () => {
    const net = parseIpPrefix('172.16.0.0/12')!;
    expect(prefixContains(net, parseIp('172.31.255.255')!)).toBe(true);
    expect(prefixContains(net, parseIp('172.32.0.0')!)).toBe(false);
    expect(prefixContains(parseIpPrefix('[::]/8')!, parseIp('::ffff:172.16.0.1')!)).toBe(true);
    expect(prefixContains(parseIpPrefix('0.0.0.0/0')!, parseIp('::1')!)).toBe(false);
    expect(prefixMatches(bytesOf('fe80::1'), bytesOf('febf::'), 10)).toBe(true);
    expect(prefixMatches(bytesOf('fe80::1'), bytesOf('fec0::'), 10)).toBe(false);
  });

  it('reads dotted netmasks that are prefixes', () => {
    expect(ipv4MaskBits(Uint8Array.of(255, 0, 0, 0))).toBe(8);
    expect(ipv4MaskBits(Uint8Array.of(255, 255, 255, 255))).toBe(32);
    expect(ipv4MaskBits(Uint8Array.of(0, 0, 0, 0))).toBe(0);
    expect(ipv4MaskBits(Uint8Array.of(255, 255, 240, 0))).toBe(20);
    expect(ipv4MaskBits(Uint8Array.of(255, 0, 255, 0))).toBeUndefined();
    expect(ipv4MaskBits(Uint8Array.of(0, 255, 255, 255))).toBeUndefined();
  });
});

describe('classification', () => {
  it('unmaps IPv4-mapped IPv6 addresses only', () => {
    expect(unmapIpv4(parseIp('::ffff:10.0.0.1')!)).toEqual({ family: 4, bytes: Uint8Array.of(10, 0, 0, 1) });
    const compatible = parseIp('::10.0.0.1')!;
    expect(unmapIpv4(compatible)).toBe(compatible);
    const v4 = parseIp('10.0.0.1')!;
    expect(unmapIpv4(v4)).toBe(v4);
  });

  it('knows loopback', () => {
    for (const a of ['127.0.0.1', '127.255.0.9', '::1', '0:0::1']) expect(isLoopback(parseIp(a)!), a).toBe(true);
    for (const a of ['128.0.0.1', '::', '::2', '::ffff:127.0.0.1', '1::1']) expect(isLoopback(parseIp(a)!), a).toBe(false);
  });

  it('isInternalAddress is tor\'s tor_addr_is_internal', () => {
    for (const a of ['10.0.0.1', '0.1.2.3', '127.0.0.1', '100.64.0.1', '169.254.1.1', '172.16.0.1', '172.31.255.255', '192.168.1.1']) {
      expect(isInternalAddress(bytesOf(a)), a).toBe(true);
    }
    for (const a of ['8.8.8.8', '100.128.0.1', '172.32.0.1', '192.0.2.1']) expect(isInternalAddress(bytesOf(a)), a).toBe(false);
    const v6 = (first: number, last = 0): Uint8Array => {
      const b = new Uint8Array(16);
      b[0] = first >> 8;
      b[1] = first & 0xff;
      b[15] = last;
      return b;
    };
    expect(isInternalAddress(v6(0xfc00))).toBe(true);
    expect(isInternalAddress(v6(0xfd12))).toBe(true);
    expect(isInternalAddress(v6(0xfe80))).toBe(true);
    expect(isInternalAddress(v6(0xfec0))).toBe(true);
    expect(isInternalAddress(v6(0, 1))).toBe(true); // ::1
    expect(isInternalAddress(v6(0, 0))).toBe(true); // ::
    expect(isInternalAddress(v6(0x2001, 1))).toBe(false);
    const mapped = new Uint8Array(16);
    mapped.set([0xff, 0xff, 127, 0, 0, 1], 10);
    expect(isInternalAddress(mapped)).toBe(true);
  });
});

describe('reverse-lookup names', () => {
  it('parsePtrName reads in-addr.arpa and ip6.arpa names', () => {
    expect(parsePtrName('4.3.2.1.in-addr.arpa')).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(parsePtrName('4.3.2.1.IN-ADDR.ARPA.')).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(parsePtrName('3.2.1.in-addr.arpa')).toBeNull();
    expect(parsePtrName('256.3.2.1.in-addr.arpa')).toBeNull();
    expect(parsePtrName('example.com')).toBeUndefined();
    const v6 = '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa';
    const bytes = parsePtrName(v6);
    expect(bytes).toHaveLength(16);
    expect(Array.from(bytes!)).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parsePtrName('1.0.ip6.arpa')).toBeNull();
    expect(parsePtrName('g' + v6.slice(1))).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const ipBytes = fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 }));

/** IPv6 bytes with runs of zero groups and IPv4 inside, where the formatting rules have work to do. */
const sparseIpv6 = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
  .map((groups) => {
    const b = new Uint8Array(16);
    groups.forEach((g, i) => {
      b[2 * i] = g >> 8;
      b[2 * i + 1] = g & 0xff;
    });
    return b;
  });

/** Other ways to write the same IPv6 address: full groups, leading zeros, upper case, brackets, an IPv4 tail. */
function ipv6Spellings(b: Uint8Array): string[] {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  const plain = groups.map((g) => g.toString(16)).join(':');
  const padded = groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
  const v4Tail = `${groups.slice(0, 6).map((g) => g.toString(16)).join(':')}:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return [plain, padded.toUpperCase(), `[${plain}]`, v4Tail, `[${v4Tail}]`];
}

/** The BigInt of an address's bytes, a second opinion on prefixes. */
const toBig = (b: Uint8Array): bigint => b.reduce((n, x) => (n << 8n) | BigInt(x), 0n);

describe('properties', () => {
  it('format(parse(text)) gives the canonical text back, and parse(format(bytes)) the bytes', () => {
    fc.assert(
      fc.property(fc.oneof(ipBytes, sparseIpv6), (b) => {
        const text = formatIp(b);
        const ip = parseIp(text);
        expect(ip?.bytes).toEqual(b);
        expect(ip?.family).toBe(b.length === 4 ? 4 : 6);
        expect(formatIp(ip!)).toBe(text);
        expect(parseIp(formatIpBracketed(b))?.bytes).toEqual(b);
      }),
      { numRuns: 2000 },
    );
  });

  it('every spelling of an IPv6 address reads as the same bytes and writes as the canonical text', () => {
    fc.assert(
      fc.property(sparseIpv6, (b) => {
        for (const s of ipv6Spellings(b)) {
          expect(parseIp(s)?.bytes, s).toEqual(b);
          expect(formatIp(parseIp(s)!)).toBe(formatIp(b));
        }
      }),
    );
  });

  it('canonical text is lower case, at most 45 characters, with "::" at most once and never for a single zero group', () => {
    fc.assert(
      fc.property(fc.oneof(ipBytes, sparseIpv6), (b) => {
        const text = formatIp(b);
        expect(text).toBe(text.toLowerCase());
        expect(text.length).toBeLessThanOrEqual(45);
        expect(text.split('::').length).toBeLessThanOrEqual(2);
        if (text.includes('::') && !text.includes('.')) {
          const written = text.split('::').flatMap((h) => (h === '' ? [] : h.split(':'))).length;
          expect(written).toBeLessThanOrEqual(6);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('any text gives an address or undefined from parseIp, an address or a ProtocolError from requireIp', () => {
    const ipish = fc
      .array(fc.constantFrom('1', '255', '256', 'ffff', 'FFFF', '12345', 'g', '0', '.', ':', '::', '[', ']', '/', ' ', '1.2.3.4'), { maxLength: 16 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), ipish), (s) => {
        const ip = parseIp(s);
        if (ip !== undefined) {
          expect(ip.bytes).toHaveLength(ip.family === 4 ? 4 : 16);
          // What reads as an address writes as one that reads the same.
          expect(parseIp(formatIp(ip))).toEqual(ip);
        }
        try {
          expect(requireIp(s)).toEqual(ip);
        } catch (e) {
          expect(ip).toBeUndefined();
          expect(e).toBeInstanceOf(ProtocolError);
        }
        const prefix = parseIpPrefix(s);
        if (prefix !== undefined) expect(prefix.maskBits).toBeLessThanOrEqual(prefix.address.family === 4 ? 32 : 128);
        const ptr = parsePtrName(s);
        if (ptr) expect([4, 16]).toContain(ptr.length);
      }),
      { numRuns: 3000 },
    );
  });

  it('prefixMatches agrees with comparing the top bits as numbers', () => {
    fc.assert(
      fc.property(ipBytes, fc.nat(), fc.nat(), (a, flips, bitsSeed) => {
        const total = a.length * 8;
        const bits = bitsSeed % (total + 1);
        // b differs from a in a few chosen bits, so that matches and mismatches both come up.
        const b = a.slice();
        for (let k = 0; k < 3; k++) {
          const bit = (flips >> (k * 8)) % total;
          if ((flips >> (24 + k)) & 1) b[bit >> 3]! ^= 0x80 >> (bit & 7);
        }
        const shift = BigInt(total - bits);
        expect(prefixMatches(a, b, bits)).toBe(toBig(a) >> shift === toBig(b) >> shift);
      }),
      { numRuns: 2000 },
    );
  });

  it('a netmask of n leading ones has n bits, and nothing else is a prefix mask', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 32 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), (n, other) => {
        const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
        const bytes = Uint8Array.of(mask >>> 24, (mask >>> 16) & 0xff, (mask >>> 8) & 0xff, mask & 0xff);
        expect(ipv4MaskBits(bytes)).toBe(n);
        const bits = ipv4MaskBits(other);
        if (bits !== undefined) expect(Number(toBig(other))).toBe(bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
      }),
    );
  });
});
