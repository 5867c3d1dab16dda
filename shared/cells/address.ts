import { Reader } from '../bytes/reader.ts';
import { Writer } from '../bytes/writer.ts';
import { ProtocolError } from '../errors.ts';

/**
 * Addresses as NETINFO carries them (tor-spec "NETINFO cells"): type, length, value. Types other
 * than IPv4 and IPv6 are kept as raw bytes so they survive a round trip.
 */
export type TorAddress =
  | { readonly type: 'ipv4'; readonly bytes: Uint8Array }
  | { readonly type: 'ipv6'; readonly bytes: Uint8Array }
  | { readonly type: 'other'; readonly code: number; readonly bytes: Uint8Array };

export const ADDR_TYPE_IPV4 = 4;
export const ADDR_TYPE_IPV6 = 6;

export function readTorAddress(r: Reader): TorAddress {
  const type = r.u8('address type');
  const value = r.lenU8('address value').slice();
  if (type === ADDR_TYPE_IPV4) {
    if (value.length !== 4) throw r.error(`IPv4 address of length ${value.length}`);
    return { type: 'ipv4', bytes: value };
  }
  if (type === ADDR_TYPE_IPV6) {
    if (value.length !== 16) throw r.error(`IPv6 address of length ${value.length}`);
    return { type: 'ipv6', bytes: value };
  }
  return { type: 'other', code: type, bytes: value };
}

export function writeTorAddress(w: Writer, a: TorAddress): void {
  const code = a.type === 'ipv4' ? ADDR_TYPE_IPV4 : a.type === 'ipv6' ? ADDR_TYPE_IPV6 : a.code;
  w.u8(code).lenU8(a.bytes);
}

/** Dotted-quad or RFC 5952 text for an IPv4/IPv6 address's bytes. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new ProtocolError('IP address', `${bytes.length} bytes is neither IPv4 nor IPv6`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // Compress the longest run (length >= 2) of zero groups, per RFC 5952.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Parse dotted-quad IPv4 or IPv6 text (with optional brackets) into bytes; undefined if neither. */
export function parseIp(text: string): Uint8Array | undefined {
  const s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return Uint8Array.from(parts);
  }
  if (!s.includes(':') || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const g = items[i]!;
      if (i === items.length - 1 && g.includes('.')) {
        const v4b = parseIp(g);
        if (!v4b || v4b.length !== 4) return undefined;
        out.push((v4b[0]! << 8) | v4b[1]!, (v4b[2]! << 8) | v4b[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => { out[2 * i] = g >> 8; out[2 * i + 1] = g & 0xff; });
  return out;
}
