import { formatIp, parseIp } from '../addr/index.ts';
import { ProtocolError, UsageError } from '../util/index.ts';

/**
 * The SOCKS5 messages (RFC 1928, RFC 1929, tor's RESOLVE and RESOLVE_PTR extensions), encoded and
 * decoded without I/O. Decoders take the bytes received so far and return undefined while a
 * message is incomplete; bytes that cannot be the message throw a ProtocolError.
 */

export const SOCKS_VERSION = 5;
/** RFC 1929: the version byte of the username/password subnegotiation. */
export const USERPASS_VERSION = 1;

export const SocksMethod = {
  NO_AUTH: 0,
  USERNAME_PASSWORD: 2,
  NO_ACCEPTABLE: 0xff,
} as const;

/** CMD of a request: RFC 1928's three, and tor's two name lookups. */
export const SocksCommandCode = {
  CONNECT: 1,
  BIND: 2,
  UDP_ASSOCIATE: 3,
  RESOLVE: 0xf0,
  RESOLVE_PTR: 0xf1,
} as const;

/** The commands Telescope's SOCKS servers understand. */
export type SocksCommand = 'CONNECT' | 'RESOLVE' | 'RESOLVE_PTR';

const COMMAND_CODES: Readonly<Record<SocksCommand, number>> = {
  CONNECT: SocksCommandCode.CONNECT,
  RESOLVE: SocksCommandCode.RESOLVE,
  RESOLVE_PTR: SocksCommandCode.RESOLVE_PTR,
};

/** The command a CMD byte names, or undefined for one Telescope does not serve (BIND, UDP...). */
export function commandOf(code: number): SocksCommand | undefined {
  return (Object.keys(COMMAND_CODES) as SocksCommand[]).find((c) => COMMAND_CODES[c] === code);
}

export const AddressType = { IPV4: 1, DOMAIN: 3, IPV6: 4 } as const;

/** DST.ADDR / BND.ADDR: an IP address, or a name the far end resolves. */
export type SocksAddress =
  | { readonly kind: 'ipv4'; readonly bytes: Uint8Array }
  | { readonly kind: 'ipv6'; readonly bytes: Uint8Array }
  | { readonly kind: 'domain'; readonly name: string };

/** RFC 1928 §6: the address of a reply that has none to report. */
export const UNSPECIFIED_ADDRESS: SocksAddress = { kind: 'ipv4', bytes: new Uint8Array(4) };

/**
 * A host name as SOCKS5 carries it: 1–255 bytes of printable ASCII. Names go on to an exit in a
 * BEGIN or RESOLVE cell as text, which allows nothing else (and an application sends IDNs in their
 * ASCII form).
 */
export function hostNameProblem(name: Uint8Array | readonly number[]): string | undefined {
  if (name.length === 0) return 'empty host name';
  if (name.some((c) => c < 0x21 || c > 0x7e)) return 'host name is not printable ASCII';
  return undefined;
}

/** An address as text: the name, or the IP address in its usual form (RFC 5952 for IPv6). */
export function addressText(a: SocksAddress): string {
  return a.kind === 'domain' ? a.name : formatIp(a.bytes);
}

/** The address for a host given as text: an IP literal (brackets allowed) or a name. */
export function addressFor(host: string): SocksAddress {
  const ip = parseIp(host);
  if (ip) return ip.family === 4 ? { kind: 'ipv4', bytes: ip.bytes } : { kind: 'ipv6', bytes: ip.bytes };
  return { kind: 'domain', name: host };
}

function encodeAddress(a: SocksAddress): number[] {
  if (a.kind === 'ipv4') {
    if (a.bytes.length !== 4) throw new UsageError(`an IPv4 address is 4 bytes, not ${a.bytes.length}`);
    return [AddressType.IPV4, ...a.bytes];
  }
  if (a.kind === 'ipv6') {
    if (a.bytes.length !== 16) throw new UsageError(`an IPv6 address is 16 bytes, not ${a.bytes.length}`);
    return [AddressType.IPV6, ...a.bytes];
  }
  const name = Array.from(a.name, (c) => c.charCodeAt(0));
  const bad = name.length > 255 ? `${name.length} bytes long (at most 255)` : hostNameProblem(name);
  if (bad) throw new UsageError(`cannot send host name "${a.name.slice(0, 40)}": ${bad}`);
  return [AddressType.DOMAIN, name.length, ...name];
}

/** ATYP + address + port at `at`: how many bytes they take, or undefined while incomplete. */
function addressLength(buf: Uint8Array, at: number, context: string): number | undefined {
  if (buf.length <= at) return undefined;
  const atyp = buf[at];
  if (atyp === AddressType.IPV4) return 1 + 4 + 2;
  if (atyp === AddressType.IPV6) return 1 + 16 + 2;
  if (atyp === AddressType.DOMAIN) return buf.length > at + 1 ? 1 + 1 + buf[at + 1]! + 2 : undefined;
  throw new ProtocolError(context, `address type ${atyp}`, at);
}

/** The address and port at `at`; the caller has checked addressLength. */
function readAddress(buf: Uint8Array, at: number, context: string): { address: SocksAddress; port: number; end: number } {
  const atyp = buf[at];
  let address: SocksAddress;
  let pos: number;
  if (atyp === AddressType.IPV4) {
    address = { kind: 'ipv4', bytes: buf.slice(at + 1, at + 5) };
    pos = at + 5;
  } else if (atyp === AddressType.IPV6) {
    address = { kind: 'ipv6', bytes: buf.slice(at + 1, at + 17) };
    pos = at + 17;
  } else {
    const n = buf[at + 1]!;
    const name = buf.subarray(at + 2, at + 2 + n);
    const bad = hostNameProblem(name);
    if (bad) throw new ProtocolError(context, bad, at + 1);
    address = { kind: 'domain', name: String.fromCharCode(...name) };
    pos = at + 2 + n;
  }
  return { address, port: (buf[pos]! << 8) | buf[pos + 1]!, end: pos + 2 };
}

function checkPort(port: number, allowZero: boolean): void {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 0xffff) throw new UsageError(`bad port ${port}`);
}

// ---- the client's messages ----

/** VER NMETHODS METHODS. */
export function encodeGreeting(methods: readonly number[]): Uint8Array {
  if (methods.length < 1 || methods.length > 255) throw new UsageError(`a SOCKS5 greeting offers 1–255 methods, not ${methods.length}`);
  return Uint8Array.from([SOCKS_VERSION, methods.length, ...methods]);
}

/** RFC 1929: VER ULEN UNAME PLEN PASSWD. */
export function encodeUserPassAuth(username: Uint8Array, password: Uint8Array): Uint8Array {
  if (username.length > 255 || password.length > 255) throw new UsageError('a SOCKS5 username and password are at most 255 bytes each');
  return Uint8Array.from([USERPASS_VERSION, username.length, ...username, password.length, ...password]);
}

/** RFC 1929 credentials: any bytes, up to 255 of each. */
export interface SocksAuth {
  readonly username: Uint8Array;
  readonly password: Uint8Array;
}

export interface SocksTarget {
  readonly command: SocksCommand;
  readonly address: SocksAddress;
  readonly port: number;
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT. Port 0 is for the name lookups only. */
export function encodeRequest(target: SocksTarget): Uint8Array {
  checkPort(target.port, target.command !== 'CONNECT');
  return Uint8Array.from([SOCKS_VERSION, COMMAND_CODES[target.command], 0, ...encodeAddress(target.address), target.port >> 8, target.port & 0xff]);
}

// ---- the server's messages ----

export function encodeMethodChoice(method: number): Uint8Array {
  return Uint8Array.of(SOCKS_VERSION, method);
}

/** RFC 1929: VER STATUS, 0 for success. */
export function encodeAuthStatus(status: number): Uint8Array {
  return Uint8Array.of(USERPASS_VERSION, status);
}

/** VER REP RSV ATYP BND.ADDR BND.PORT. */
export function encodeReply(code: number, bound: SocksAddress = UNSPECIFIED_ADDRESS, port = 0): Uint8Array {
  if (!Number.isInteger(code) || code < 0 || code > 0xff) throw new UsageError(`bad SOCKS5 reply code ${code}`);
  checkPort(port, true);
  return Uint8Array.from([SOCKS_VERSION, code, 0, ...encodeAddress(bound), port >> 8, port & 0xff]);
}

/** The server's method choice; undefined while incomplete. */
export function decodeMethodChoice(buf: Uint8Array): { method: number; length: number } | undefined {
  if (buf.length < 2) return undefined;
  if (buf[0] !== SOCKS_VERSION) throw new ProtocolError('SOCKS5 method choice', `version ${buf[0]}, expected 5`, 0);
  return { method: buf[1]!, length: 2 };
}

/** The server's RFC 1929 status; undefined while incomplete. */
export function decodeAuthStatus(buf: Uint8Array): { status: number; length: number } | undefined {
  if (buf.length < 2) return undefined;
  if (buf[0] !== USERPASS_VERSION) throw new ProtocolError('SOCKS5 username/password status', `version ${buf[0]}, expected 1`, 0);
  return { status: buf[1]!, length: 2 };
}

export interface SocksReplyMessage {
  readonly code: number;
  readonly address: SocksAddress;
  readonly port: number;
  /** Bytes of the input the reply took. */
  readonly length: number;
}

/** A reply at the start of `buf`; undefined while incomplete. */
export function decodeReply(buf: Uint8Array): SocksReplyMessage | undefined {
  const context = 'SOCKS5 reply';
  if (buf.length < 4) return undefined;
  if (buf[0] !== SOCKS_VERSION) throw new ProtocolError(context, `version ${buf[0]}, expected 5`, 0);
  if (buf[2] !== 0) throw new ProtocolError(context, `reserved byte ${buf[2]}, expected 0`, 2);
  const n = addressLength(buf, 3, context);
  if (n === undefined || buf.length < 3 + n) return undefined;
  const { address, port, end } = readAddress(buf, 3, context);
  return { code: buf[1]!, address, port, length: end };
}

/** A request as it came, before the server judges it (decodeRequest checks only its framing). */
export interface RequestFields {
  readonly version: number;
  readonly commandCode: number;
  readonly reserved: number;
  readonly address: SocksAddress;
  readonly port: number;
  readonly length: number;
}

/**
 * A request at the start of `buf`; undefined while incomplete. Throws on an unknown address type
 * (its length cannot be known) and on a host name that is not printable ASCII; the version,
 * command and reserved byte are returned for the caller to judge.
 */
export function decodeRequest(buf: Uint8Array): RequestFields | undefined {
  const context = 'SOCKS5 request';
  const n = addressLength(buf, 3, context);
  if (n === undefined || buf.length < 3 + n) return undefined;
  const { address, port, end } = readAddress(buf, 3, context);
  return { version: buf[0]!, commandCode: buf[1]!, reserved: buf[2]!, address, port, length: end };
}
