import type { IpAddress } from '../addr/index.ts';
import { Reader, Writer } from '../bytes/index.ts';

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

/** An IP address as NETINFO carries it. */
export function torAddressOf(ip: IpAddress): TorAddress {
  return { type: ip.family === 4 ? 'ipv4' : 'ipv6', bytes: ip.bytes };
}

