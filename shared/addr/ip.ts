/**
 * IP addresses: the text forms (dotted IPv4, IPv6 with "::" and an IPv4 tail, IPv6 in brackets) and
 * the 4 or 16 bytes that cells, descriptors and exit policies carry; prefixes for CIDR matching;
 * and the classifications the relay and exit make (internal addresses, IPv4-mapped IPv6).
 *
 * Text is written as tor writes it (tor_inet_ntop), so that what Telescope publishes and logs reads
 * the same as tor's: lower-case hex, the longest run of two or more zero groups shortened to "::"
 * (the first on a tie), and the IPv4 part of an IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible
 * (::a.b.c.d) address dotted.
 */
import { ProtocolError, UsageError } from '../util/index.ts';

export type IpFamily = 4 | 6;

/** An IP address: its family and its 4 (IPv4) or 16 (IPv6) bytes in network order. */
export interface IpAddress {
  readonly family: IpFamily;
  readonly bytes: Uint8Array;
}

/** An address with a prefix length, e.g. 10.0.0.0/8 (bits past the prefix are kept as written). */
export interface IpPrefix {
  readonly address: IpAddress;
  readonly maskBits: number;
}

/** Number of address bits of a family: 32 or 128. */
export function ipBits(family: IpFamily): 32 | 128 {
  return family === 4 ? 32 : 128;
}

/** Dotted-quad IPv4 (four decimal numbers 0..255 of at most three digits); undefined otherwise. */
export function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^[0-9]{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

/** Groups of an IPv6 address part ("1:2:3"), the last one optionally a dotted IPv4 address. */
function ipv6Groups(part: string, allowV4Tail: boolean): number[] | undefined {
  if (part === '') return [];
  const texts = part.split(':');
  const out: number[] = [];
  for (let i = 0; i < texts.length; i++) {
    const g = texts[i]!;
    if (allowV4Tail && i === texts.length - 1 && g.includes('.')) {
      const v4 = parseIpv4(g);
      if (!v4) return undefined;
      out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
  }
  return out;
}

/**
 * IPv6 text without brackets: eight groups, or fewer with one "::" standing for at least one zero
 * group; the last 32 bits may be written as dotted IPv4 (only at the end). Undefined otherwise.
 */
export function parseIpv6(text: string): Uint8Array | undefined {
  // The longest textual form is 45 characters (six groups and an IPv4 tail).
  if (text.length < 2 || text.length > 45) return undefined;
  let groups: number[];
  const gap = text.indexOf('::');
  if (gap === -1) {
    const g = ipv6Groups(text, true);
    if (!g || g.length !== 8) return undefined;
    groups = g;
  } else {
    if (text.indexOf('::', gap + 1) !== -1) return undefined;
    const head = ipv6Groups(text.slice(0, gap), false);
    const tail = ipv6Groups(text.slice(gap + 2), true);
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/**
 * An IP literal: dotted IPv4, or IPv6 with or without brackets (brackets only around IPv6, as tor's
 * tor_addr_parse). Undefined for anything else, host names included.
 */
export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4) return { family: 4, bytes: v4 };
  const inner = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v6 = parseIpv6(inner);
  if (v6) return { family: 6, bytes: v6 };
  return undefined;
}

/** parseIp for text that must be an address: a ProtocolError naming `what` when it is not. */
export function requireIp(text: string, what = 'IP address'): IpAddress {
  const ip = parseIp(text);
  if (!ip) throw new ProtocolError(what, `'${text.slice(0, 60)}' is not an IPv4 or IPv6 address`);
  return ip;
}

/** The family of 4 or 16 bytes; a UsageError for any other length (a caller's mistake). */
export function ipFamilyOf(bytes: Uint8Array): IpFamily {
  if (bytes.length === 4) return 4;
  if (bytes.length === 16) return 6;
  throw new UsageError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
}

/** 4 or 16 bytes as an IpAddress (the bytes are not copied). */
export function ipFromBytes(bytes: Uint8Array): IpAddress {
  return { family: ipFamilyOf(bytes), bytes };
}

function formatIpv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

function formatIpv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0) {
    // An IPv4 address inside IPv6 reads best dotted: tor writes ::ffff:a.b.c.d (mapped) and, when
    // the last two groups are both non-zero, ::a.b.c.d (compatible; so ::1 stays ::1).
    if (g[5] === 0xffff) return `::ffff:${formatIpv4(b.subarray(12))}`;
    if (g[5] === 0 && g[6] !== 0 && g[7] !== 0) return `::${formatIpv4(b.subarray(12))}`;
  }
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(':');
  if (bestAt === -1) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

/** An address as tor writes it, without brackets: "1.2.3.4", "2001:db8::1", "::ffff:1.2.3.4". */
export function formatIp(address: Uint8Array | IpAddress): string {
  const bytes = address instanceof Uint8Array ? address : address.bytes;
  return ipFamilyOf(bytes) === 4 ? formatIpv4(bytes) : formatIpv6(bytes);
}

/** As formatIp, with IPv6 in brackets: the form that can be followed by ":port" or "/bits". */
export function formatIpBracketed(address: Uint8Array | IpAddress): string {
  const bytes = address instanceof Uint8Array ? address : address.bytes;
  return ipFamilyOf(bytes) === 4 ? formatIpv4(bytes) : `[${formatIpv6(bytes)}]`;
}

/**
 * A network as tor writes it in its lists: "10.0.0.0/8" or "[fc00::]/7". The address must be an IP
 * literal (IPv6 in brackets or not) and the prefix length at most the family's bits.
 */
export function parseIpPrefix(text: string): IpPrefix | undefined {
  const slash = text.lastIndexOf('/');
  if (slash === -1) return undefined;
  const address = parseIp(text.slice(0, slash));
  const bitsText = text.slice(slash + 1);
  if (!address || !/^[0-9]{1,3}$/.test(bitsText)) return undefined;
  const maskBits = Number(bitsText);
  if (maskBits > ipBits(address.family)) return undefined;
  return { address, maskBits };
}

/** Whether the first `bits` bits of a and b agree (a and b of one family). */
export function prefixMatches(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole]! ^ b[whole]!) & mask) === 0;
}

/** Whether a prefix covers an address (never across families). */
export function prefixContains(prefix: IpPrefix, address: IpAddress): boolean {
  return prefix.address.family === address.family && prefixMatches(prefix.address.bytes, address.bytes, prefix.maskBits);
}

/**
 * The prefix length of an IPv4 netmask written as an address (255.255.0.0 → 16), or undefined if
 * the mask is not a run of ones followed by zeros.
 */
export function ipv4MaskBits(mask: Uint8Array): number | undefined {
  const n = ((mask[0]! << 24) | (mask[1]! << 16) | (mask[2]! << 8) | mask[3]!) >>> 0;
  // A prefix mask is `bits` leading ones then zeros: count them, rebuild the mask and compare.
  const bits = Math.clz32(~n >>> 0);
  const rebuilt = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return rebuilt === n ? bits : undefined;
}

/** Whether two addresses are the same bytes (so the same family). */
export function sameIp(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether 16 bytes are an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
export function isIpv4Mapped(bytes: Uint8Array): boolean {
  return bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

/** An IPv4-mapped IPv6 address as the IPv4 address it stands for; any other address unchanged. */
export function unmapIpv4(address: IpAddress): IpAddress {
  return isIpv4Mapped(address.bytes) ? { family: 4, bytes: address.bytes.slice(12) } : address;
}

/** Loopback: 127.0.0.0/8 or ::1. */
export function isLoopback(address: IpAddress): boolean {
  if (address.family === 4) return address.bytes[0] === 127;
  return address.bytes.subarray(0, 15).every((b) => b === 0) && address.bytes[15] === 1;
}

/**
 * tor's tor_addr_is_internal (not for listening): addresses nobody outside may be told about.
 * 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.168/16; fc00::/7, fe80::/10, fec0::/10,
 * ::/127; an IPv4-mapped address is judged by its IPv4 part. Bytes of any other length count as
 * internal.
 */
export function isInternalAddress(bytes: Uint8Array): boolean {
  const v4 = bytes.length === 4 ? bytes : isIpv4Mapped(bytes) ? bytes.subarray(12) : undefined;
  if (v4) {
    const [a, b] = [v4[0]!, v4[1]!];
    return a === 10 || a === 0 || a === 127 || (a === 100 && (b & 0xc0) === 64) || (a === 169 && b === 254) || (a === 172 && (b & 0xf0) === 16) || (a === 192 && b === 168);
  }
  if (bytes.length !== 16) return true;
  if ((bytes[0]! & 0xfe) === 0xfc) return true; // fc00::/7
  if (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80) return true; // fe80::/10
  if (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0xc0) return true; // fec0::/10
  return bytes.subarray(0, 15).every((b) => b === 0) && (bytes[15]! & 0xfe) === 0; // ::/127
}

/**
 * A reverse-lookup name (tor's tor_addr_parse_PTR_name): the address for "4.3.2.1.in-addr.arpa" or
 * a 32-nibble ".ip6.arpa" name; null for a name in those zones that is malformed; undefined for
 * any other name.
 */
export function parsePtrName(name: string): Uint8Array | null | undefined {
  const lower = name.toLowerCase().replace(/\.$/, '');
  if (lower.endsWith('.in-addr.arpa')) {
    const labels = lower.slice(0, -'.in-addr.arpa'.length).split('.');
    if (labels.length !== 4 || !labels.every((l) => /^[0-9]{1,3}$/.test(l) && Number(l) <= 255)) return null;
    return Uint8Array.from(labels.reverse().map(Number));
  }
  if (lower.endsWith('.ip6.arpa')) {
    const labels = lower.slice(0, -'.ip6.arpa'.length).split('.');
    if (labels.length !== 32 || !labels.every((l) => /^[0-9a-f]$/.test(l))) return null;
    const nibbles = labels.reverse().map((l) => parseInt(l, 16));
    const out = new Uint8Array(16);
    for (let i = 0; i < 16; i++) out[i] = (nibbles[2 * i]! << 4) | nibbles[2 * i + 1]!;
    return out;
  }
  return undefined;
}
