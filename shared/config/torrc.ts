/**
 * A reader for torrc-syntax configuration, shared by the relay-bridge and the extension's settings.
 *
 * The line syntax is tor's (doc/torrc_format.txt): `Keyword value`, `#` comments, blank lines,
 * backslash-newline continuation (with tor's odd rule that comment lines inside a continued entry
 * are dropped and the entry goes on), C-style quoted values, keywords case-insensitive. On top of
 * that, a schema names the options a command accepts and how each value reads (tor's manual for
 * sizes, intervals, ports, DirAuthority and Bridge lines), and the result is a typed record.
 *
 * Every problem is a ConfigError naming the line: "line 7: unknown option 'SocksPrt'".
 */
import { ProtocolError, TelescopeError, UsageError, type ErrorKind } from '../util/index.ts';
import { fromBase64 } from '../bytes/index.ts';
import { formatIp, parseIp } from '../addr/index.ts';
import { parseExitPolicy } from '../policy/index.ts';
import type { DirAuthority, FallbackDir } from '../directory/index.ts';
// fallback-dir.ts imports ConfigError from here; both are only used inside functions, so the cycle is harmless.
import { parseFallbackDir } from './fallback-dir.ts';

/** A configuration problem, with the line it is on when it comes from a file. */
export class ConfigError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'config';
  /** Why the configuration is wrong, without the line prefix. */
  readonly reason: string;
  /** 1-based line number where the offending entry starts, when known. */
  readonly line: number | undefined;
  /** The text of the offending entry (all its physical lines), when known. */
  readonly text: string | undefined;

  constructor(reason: string, line?: number, text?: string, options?: { cause?: unknown }) {
    super(line === undefined ? reason : `line ${line}: ${reason}`, options);
    this.reason = reason;
    this.line = line;
    this.text = text;
  }
}

// ---------------------------------------------------------------------------------------------
// Lines
// ---------------------------------------------------------------------------------------------

/** One `Keyword value` entry of a torrc file. */
export interface TorrcEntry {
  /** The keyword as written (without a '+' or '/' prefix). */
  readonly key: string;
  /** The value: trailing space and comments removed, continuations joined, quotes decoded. */
  readonly value: string;
  /** tor's "magic" prefix: '+' appends to a list, '/' empties it. */
  readonly magic: '' | '+' | '/';
  /** 1-based number of the line the entry starts on. */
  readonly line: number;
  /** The physical line(s) of the entry, for error messages. */
  readonly text: string;
}

const isSpace = (c: string | undefined): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';

/** Decodes a C-style quoted string starting at `at` (on the '"'); returns the value and end. */
function readQuoted(s: string, at: number, fail: (why: string) => never): { value: string; end: number } {
  let out = '';
  let i = at + 1;
  for (;;) {
    const c = s[i];
    if (c === undefined || c === '\n') fail('unterminated quoted string');
    if (c === '"') return { value: out, end: i + 1 };
    if (c !== '\\') {
      out += c;
      i++;
      continue;
    }
    const e = s[i + 1];
    let code: number;
    if (e === 'n') (code = 10), (i += 2);
    else if (e === 'r') (code = 13), (i += 2);
    else if (e === 't') (code = 9), (i += 2);
    else if (e === '\\' || e === '"' || e === "'") (code = e.charCodeAt(0)), (i += 2);
    else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 2, i + 4))) (code = parseInt(s.slice(i + 2, i + 4), 16)), (i += 4);
    else if (e !== undefined && /[0-7]/.test(e)) {
      const m = /^[0-7]{1,3}/.exec(s.slice(i + 1, i + 4))!;
      code = parseInt(m[0], 8);
      i += 1 + m[0].length;
      if (code > 255) fail('octal escape out of range in quoted string');
    } else fail('invalid escape sequence in quoted string');
    if (code === 0) fail('NUL character in quoted string');
    out += String.fromCharCode(code);
  }
}

/** Removes the backslash-newlines and the comments (to the end of their line) of a continued value. */
function joinContinued(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; ) {
    if (raw[i] === '#') {
      while (i < raw.length && raw[i] !== '\n') i++;
      i++;
    } else if (raw[i] === '\\' && raw[i + 1] === '\n') i += 2;
    else out += raw[i++];
  }
  return out;
}

/**
 * Splits torrc text into entries, following tor's line syntax exactly (doc/torrc_format.txt),
 * including its treatment of comments inside continued values. CRLF line ends are accepted.
 */
export function readTorrcEntries(input: string): TorrcEntry[] {
  const s = input.replace(/\r\n/g, '\n');
  const lineStarts = [0];
  for (let i = 0; i < s.length; i++) if (s[i] === '\n') lineStarts.push(i + 1);
  const lineOf = (pos: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const linesText = (from: number, to: number): string => {
    const start = lineStarts[lineOf(from) - 1]!;
    const nl = s.indexOf('\n', Math.max(to - 1, start));
    return s.slice(start, nl === -1 ? s.length : nl);
  };

  const entries: TorrcEntry[] = [];
  let i = 0;
  for (;;) {
    // Blank lines and comment lines.
    for (;;) {
      while (isSpace(s[i])) i++;
      if (s[i] !== '#') break;
      while (i < s.length && s[i] !== '\n') i++;
    }
    if (i >= s.length) return entries;

    const start = i;
    const fail = (why: string, at = i): never => {
      throw new ConfigError(why, lineOf(start), linesText(start, Math.max(at, start + 1)));
    };
    while (i < s.length && !isSpace(s[i]) && s[i] !== '#' && !(s[i] === '\\' && s[i + 1] === '\n')) i++;
    let key = s.slice(start, i);
    let magic: '' | '+' | '/' = '';
    if (key.startsWith('+') || key.startsWith('/')) {
      magic = key[0] as '+' | '/';
      key = key.slice(1);
    }
    if (key === '') fail('missing option name');
    while (s[i] === ' ' || s[i] === '\t') i++;

    let value: string;
    let end: number;
    if (s[i] === '"') {
      const q = readQuoted(s, i, (why) => fail(why));
      value = q.value;
      i = q.end;
      while (s[i] === ' ' || s[i] === '\t' || s[i] === '\r') i++;
      if (i < s.length && s[i] !== '#' && s[i] !== '\n') fail('excess data after quoted string');
      end = i;
    } else {
      const valStart = i;
      let continued = false;
      while (i < s.length && s[i] !== '\n' && (s[i] !== '#' || continued)) {
        if (s[i] === '\\' && s[i + 1] === '\n') {
          continued = true;
          i += 2;
        } else if (s[i] === '#') {
          // Inside a continued entry a comment runs to the end of its line, newline included, and
          // the entry carries on with the next line.
          while (i < s.length && s[i] !== '\n') i++;
          if (s[i] === '\n') i++;
        } else i++;
      }
      end = i;
      let cut = i;
      while (cut > valStart && isSpace(s[cut - 1])) cut--;
      value = s.slice(valStart, cut);
      if (continued) value = joinContinued(value);
    }
    // A comment after the value.
    if (s[i] === '#') while (i < s.length && s[i] !== '\n') i++;
    entries.push({ key, value, magic, line: lineOf(start), text: linesText(start, Math.max(end, start + 1)) });
  }
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/** A listener setting as in tor's SocksPort: `auto`, a port, or `address:port`, then flags. */
export interface PortSetting {
  /** The address to bind (IP literal without brackets, or a host name); undefined: tor's default. */
  readonly address: string | undefined;
  /** The port; 0 turns the listener off, 'auto' lets the system choose. */
  readonly port: number | 'auto';
  /** Flags after the address, as written (e.g. "IsolateDestAddr", "SessionGroup=3"). */
  readonly flags: readonly string[];
}

/**
 * A `DirAuthority` line with every flag tor accepts: `[nickname] [flags] address:dirport fingerprint`.
 * What the client needs of it is a DirAuthority (dirAuthorityFrom).
 */
export interface DirAuthorityLine {
  readonly nickname: string | undefined;
  /** IPv4 address of the authority. */
  readonly address: string;
  readonly dirPort: number;
  /** `orport=N`. */
  readonly orPort: number | undefined;
  /** `v3ident=HEX`: the authority's v3 identity key fingerprint, upper-case hex. */
  readonly v3ident: string | undefined;
  /** `ipv6=[addr]:port`: the IPv6 ORPort. */
  readonly ipv6: { readonly address: string; readonly port: number } | undefined;
  /** RSA identity fingerprint, 40 upper-case hex digits (groups of 4 joined). */
  readonly fingerprint: string;
  /** `bridge`: a bridge authority. */
  readonly bridge: boolean;
  /** `no-v2`. */
  readonly noV2: boolean;
  /** `hs` / `no-hs` (obsolete; tor reads and ignores them). */
  readonly hs: boolean | undefined;
  /** `weight=N`: how often to pick this authority for directory requests. */
  readonly weight: number | undefined;
}

/** A `key=value` argument on a Bridge line, kept in order. */
export interface BridgeArg {
  readonly key: string;
  readonly value: string;
}

/** A tor `Bridge` line: `Bridge [transport] IP:ORPort [fingerprint] [key=value...]`. */
export interface TorBridgeLine {
  readonly kind: 'tor';
  /** Pluggable transport name (e.g. obfs4), or undefined for a plain bridge. */
  readonly transport: string | undefined;
  /** IP literal without brackets. */
  readonly address: string;
  readonly port: number;
  readonly fingerprint: string | undefined;
  /** `ntor=BASE64` on a plain bridge (Telescope's addition): the bridge's ntor onion key, 32 bytes. */
  readonly ntorOnionKey: Uint8Array | undefined;
  /** Transport arguments (e.g. cert=..., iat-mode=0). */
  readonly args: readonly BridgeArg[];
}

/**
 * A Telescope bridge reached over WebSocket:
 * `Bridge telescope ws[s]://HOST[:PORT][/PATH] FINGERPRINT [ed25519=BASE64] [ntor=BASE64] [key=value...]`.
 * The keys let a client check the bridge's CERTS cell and build the first hop without fetching the
 * bridge's descriptor first.
 */
export interface TelescopeBridgeLine {
  readonly kind: 'telescope';
  /** The URL as written. */
  readonly url: string;
  /** wss: rather than ws:. */
  readonly secure: boolean;
  /** Host name or IP literal (IPv6 without brackets). */
  readonly host: string;
  /** Port, 443/80 by default for wss/ws. */
  readonly port: number;
  /** Path of the WebSocket endpoint, "/" if none. */
  readonly path: string;
  readonly fingerprint: string;
  /** `ed25519=`: the Ed25519 identity key (32 bytes), if given. */
  readonly ed25519Identity: Uint8Array | undefined;
  /** `ntor=`: the ntor onion key (32 bytes), if given. */
  readonly ntorOnionKey: Uint8Array | undefined;
  /** Other key=value arguments, kept for later versions. */
  readonly args: readonly BridgeArg[];
}

export type BridgeLine = TorBridgeLine | TelescopeBridgeLine;

const fail = (reason: string): never => {
  throw new ConfigError(reason);
};

function parsePortNumber(text: string, what: string, allowZero = false): number {
  if (!/^[0-9]{1,5}$/.test(text)) fail(`${what} '${text}' is not a port`);
  const n = Number(text);
  if (n > 65535 || (n === 0 && !allowZero)) fail(`${what} ${n} is out of range`);
  return n;
}

function parseFingerprint(text: string, what: string): string {
  if (!/^[0-9a-fA-F]{40}$/.test(text)) fail(`${what} '${text}' is not 40 hex digits`);
  return text.toUpperCase();
}

/** IPv4 `a.b.c.d:port` or `[v6]:port`; the port may be omitted when defaultPort is given. */
function parseIpPort(text: string, what: string, defaultPort?: number): { address: string; port: number; family: 4 | 6 } {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) fail(`${what} '${text}' has no closing ']'`);
    host = text.slice(0, close + 1);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) fail(`${what} '${text}' is not address:port`);
    portText = rest === '' ? undefined : rest.slice(1);
  } else {
    const colon = text.indexOf(':');
    if (colon !== text.lastIndexOf(':')) fail(`${what} '${text}': write IPv6 addresses in [brackets]`);
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
  }
  const ip = parseIp(host);
  if (!ip || (ip.family === 6) !== host.startsWith('[')) fail(`${what} '${text}' is not an IP address and port`);
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) fail(`${what} '${text}' has no port`);
    port = defaultPort!;
  } else port = parsePortNumber(portText, `${what} port`);
  return { address: formatIp(ip!.bytes), port, family: ip!.family };
}

const NICKNAME = /^[A-Za-z0-9]{1,19}$/;

/** Parses the value of a `DirAuthority` line (tor's manual, DirAuthority). */
export function parseDirAuthority(value: string): DirAuthorityLine {
  const items = value.trim().split(/[ \t]+/).filter((t) => t !== '');
  if (items.length === 0) fail('empty DirAuthority line');
  let at = 0;
  let nickname: string | undefined;
  // Like tor: a first item that is a legal nickname is the nickname (addresses contain ':' or '.').
  if (NICKNAME.test(items[0]!)) nickname = items[at++];
  let orPort: number | undefined;
  let v3ident: string | undefined;
  let ipv6: DirAuthorityLine['ipv6'];
  let bridge = false;
  let noV2 = false;
  let hs: boolean | undefined;
  let weight: number | undefined;
  // Flags run up to the address: the first item that starts with a digit (tor's rule), or that
  // looks like an address at all (so a misplaced IPv6 address gets a useful message).
  while (at < items.length && !/^[0-9[]/.test(items[at]!) && !/^[^=]*:/.test(items[at]!)) {
    const flag = items[at++]!;
    const lower = flag.toLowerCase();
    const eq = flag.indexOf('=');
    const arg = eq === -1 ? '' : flag.slice(eq + 1);
    if (lower === 'bridge') bridge = true;
    else if (lower === 'no-v2') noV2 = true;
    else if (lower === 'hs') hs = true;
    else if (lower === 'no-hs') hs = false;
    else if (lower.startsWith('orport=')) orPort = parsePortNumber(arg, 'orport');
    else if (lower.startsWith('v3ident=')) v3ident = parseFingerprint(arg, 'v3ident');
    else if (lower.startsWith('weight=')) {
      if (!/^[0-9]+(\.[0-9]+)?$/.test(arg)) fail(`weight '${arg}' is not a number`);
      weight = Number(arg);
    } else if (lower.startsWith('ipv6=')) {
      const a = parseIpPort(arg, 'ipv6');
      if (a.family !== 6) fail(`ipv6 '${arg}' is not an IPv6 address`);
      ipv6 = { address: a.address, port: a.port };
    } else fail(`unknown flag '${flag}'`);
  }
  const addrport = items[at++];
  if (addrport === undefined) fail('missing address:dirport');
  const a = parseIpPort(addrport!, 'address');
  if (a.family !== 4) fail(`address '${addrport}' must be IPv4 (use ipv6= for the IPv6 address)`);
  const rest = items.slice(at);
  if (rest.length === 0) fail('missing fingerprint');
  // The fingerprint may be written in groups of four, as tor prints it.
  const fingerprint = parseFingerprint(rest.join(''), 'fingerprint');
  return { nickname, address: a.address, dirPort: a.port, orPort, v3ident, ipv6, fingerprint, bridge, noV2, hs, weight };
}

/**
 * The directory authority a DirAuthority line names, for a client: it must say `v3ident=` (only
 * v3 authorities sign consensuses) and `orport=` (directory circuits go to the ORPort). A line
 * without a nickname gets `authority<index>`.
 */
export function dirAuthorityFrom(line: DirAuthorityLine, index: number): DirAuthority {
  const name = line.nickname ?? line.address;
  if (line.v3ident === undefined) fail(`DirAuthority ${name}: a v3ident=HEX flag is required (only v3 authorities sign consensuses)`);
  if (line.orPort === undefined) fail(`DirAuthority ${name}: an orport=N flag is required`);
  return { nickname: line.nickname ?? `authority${index}`, address: line.address, orPort: line.orPort!, dirPort: line.dirPort, fingerprint: line.fingerprint, v3ident: line.v3ident! };
}

/** A whole `DirAuthority ...` torrc line (the keyword may be left out) as a client's DirAuthority. */
export function parseDirAuthorityLine(text: string, index = 0): DirAuthority {
  return dirAuthorityFrom(parseDirAuthority(text.replace(/^\s*DirAuthority(?=\s|$)/i, '')), index);
}

function parseKeyValue(item: string): BridgeArg {
  const eq = item.indexOf('=');
  if (eq <= 0) fail(`'${item}' is not key=value`);
  return { key: item.slice(0, eq), value: item.slice(eq + 1) };
}

const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function parseBridgeUrl(url: string): Pick<TelescopeBridgeLine, 'url' | 'secure' | 'host' | 'port' | 'path'> {
  const m = /^(wss?):\/\/(\[[^\]/]*\]|[^/:[\]]+)(?::([^/]*))?(\/[^\s?#]*)?$/i.exec(url);
  if (!m) fail(`'${url}' is not a ws:// or wss:// URL with a host`);
  const secure = m![1]!.toLowerCase() === 'wss';
  const hostText = m![2]!;
  let host: string;
  if (hostText.startsWith('[')) {
    const ip = parseIp(hostText);
    if (!ip || ip.family !== 6) fail(`'${hostText}' is not an IPv6 address`);
    host = formatIp(ip!.bytes);
  } else {
    const labels = hostText.split('.');
    if (hostText.length > 253 || !labels.every((l) => HOST_LABEL.test(l))) fail(`'${hostText}' is not a host name`);
    host = hostText.toLowerCase();
  }
  const port = m![3] === undefined ? (secure ? 443 : 80) : parsePortNumber(m![3], 'URL port');
  return { url, secure, host, port, path: m![4] ?? '/' };
}

function decodeKey(arg: BridgeArg): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(arg.value);
  } catch (e) {
    if (e instanceof ProtocolError) fail(`${arg.key} '${arg.value}' is not base64`);
    throw e;
  }
  if (bytes!.length !== 32) fail(`${arg.key} key must be 32 bytes, not ${bytes!.length}`);
  return bytes!;
}

/** Parses the value of a `Bridge` line: tor's forms and Telescope's WebSocket form. */
export function parseBridgeLine(value: string): BridgeLine {
  const items = value.trim().split(/[ \t]+/).filter((t) => t !== '');
  if (items.length === 0) fail('empty Bridge line');
  let at = 0;
  let transport: string | undefined;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(items[0]!)) transport = items[at++];

  if (transport !== undefined && transport.toLowerCase() === 'telescope') {
    const url = items[at++];
    if (url === undefined) fail('telescope bridge needs a ws:// or wss:// URL');
    const where = parseBridgeUrl(url!);
    const fp = items[at++];
    if (fp === undefined) fail('telescope bridge needs a fingerprint');
    const fingerprint = parseFingerprint(fp!, 'fingerprint');
    let ed25519: Uint8Array | undefined;
    let ntor: Uint8Array | undefined;
    const args: BridgeArg[] = [];
    for (const item of items.slice(at)) {
      const kv = parseKeyValue(item);
      const key = kv.key.toLowerCase();
      if (key === 'ed25519' || key === 'ntor') {
        if ((key === 'ed25519' ? ed25519 : ntor) !== undefined) fail(`${kv.key} given twice`);
        if (key === 'ed25519') ed25519 = decodeKey(kv);
        else ntor = decodeKey(kv);
      } else args.push(kv);
    }
    return { kind: 'telescope', ...where, fingerprint, ed25519Identity: ed25519, ntorOnionKey: ntor, args };
  }

  const addrport = items[at++];
  if (addrport === undefined) fail('missing bridge address');
  // tor's default ORPort for bridges written without one.
  const a = parseIpPort(addrport!, 'bridge address', 443);
  let fingerprint: string | undefined;
  const args: BridgeArg[] = [];
  const rest = items.slice(at);
  let ntorOnionKey: Uint8Array | undefined;
  if (transport === undefined) {
    // Plain bridges: the fingerprint, possibly in groups, then Telescope's ntor=BASE64.
    const ntorAt = rest.findIndex((item) => item.toLowerCase().startsWith('ntor='));
    if (ntorAt !== -1) {
      if (ntorAt !== rest.length - 1) fail('ntor= must come last on a Bridge line');
      ntorOnionKey = decodeKey(parseKeyValue(rest.pop()!));
    }
    if (rest.length > 0) fingerprint = parseFingerprint(rest.join(''), 'fingerprint');
  } else {
    // With a transport, the item after the address is the fingerprint unless it is key=value.
    if (rest.length > 0 && !rest[0]!.includes('=')) fingerprint = parseFingerprint(rest.shift()!, 'fingerprint');
    for (const item of rest) args.push(parseKeyValue(item));
  }
  return { kind: 'tor', transport, address: a.address, port: a.port, fingerprint, ntorOnionKey, args };
}

/** tor's size units (case-insensitive): bytes and powers of 1024, and bits (kbit = 1024 bits). */
const SIZE_UNITS: ReadonlyMap<string, number> = new Map([
  ...['', 'b', 'byte', 'bytes'].map((u) => [u, 1] as const),
  ...['kb', 'kbyte', 'kbytes', 'kilobyte', 'kilobytes'].map((u) => [u, 2 ** 10] as const),
  ...['kbit', 'kbits', 'kilobit', 'kilobits'].map((u) => [u, 2 ** 7] as const),
  ...['m', 'mb', 'mbyte', 'mbytes', 'megabyte', 'megabytes'].map((u) => [u, 2 ** 20] as const),
  ...['mbit', 'mbits', 'megabit', 'megabits'].map((u) => [u, 2 ** 17] as const),
  ...['gb', 'gbyte', 'gbytes', 'gigabyte', 'gigabytes'].map((u) => [u, 2 ** 30] as const),
  ...['gbit', 'gbits', 'gigabit', 'gigabits'].map((u) => [u, 2 ** 27] as const),
  ...['tb', 'tbyte', 'tbytes', 'terabyte', 'terabytes'].map((u) => [u, 2 ** 40] as const),
  ...['tbit', 'tbits', 'terabit', 'terabits'].map((u) => [u, 2 ** 37] as const),
]);

/** tor's time units, in seconds (a month is 30.437 days, as in tor). */
const TIME_UNITS: ReadonlyMap<string, number> = new Map([
  ...['', 'second', 'seconds', 'sec', 'secs', 's'].map((u) => [u, 1] as const),
  ...['minute', 'minutes', 'min', 'mins'].map((u) => [u, 60] as const),
  ...['hour', 'hours'].map((u) => [u, 3600] as const),
  ...['day', 'days'].map((u) => [u, 86400] as const),
  ...['week', 'weeks'].map((u) => [u, 604800] as const),
  ...['month', 'months'].map((u) => [u, 2629728] as const),
]);

function parseUnits(text: string, units: ReadonlyMap<string, number>, what: string): number {
  const m = /^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)[ \t]*([A-Za-z]*)$/.exec(text);
  const mult = m ? units.get(m[2]!.toLowerCase()) : undefined;
  if (!m || mult === undefined) fail(`'${text}' is not ${what}`);
  const v = Math.floor(Number(m![1]) * mult!);
  if (!Number.isSafeInteger(v)) fail(`'${text}' is too large`);
  return v;
}

/** A size in bytes from tor's notation: "10 MB", "1 GBytes", "500 KBits", "1.5 megabytes". */
export function parseByteSize(text: string): number {
  return parseUnits(text, SIZE_UNITS, 'a size');
}

/** A time interval in seconds from tor's notation: "10 minutes", "1 day", "30". */
export function parseInterval(text: string): number {
  return parseUnits(text, TIME_UNITS, 'a time interval');
}

function parsePortSetting(value: string, allowedFlags: readonly string[] | undefined): PortSetting {
  const [first, ...flags] = value.trim().split(/[ \t]+/);
  const target = first!;
  if (target.toLowerCase().startsWith('unix:')) fail('unix sockets are not supported');
  let address: string | undefined;
  let portText = target;
  if (!/^[0-9]+$/.test(target) && target.toLowerCase() !== 'auto') {
    const colon = target.lastIndexOf(':');
    if (colon <= 0) fail(`'${target}' is not auto, a port, or address:port`);
    const host = target.slice(0, colon);
    portText = target.slice(colon + 1);
    if (host.startsWith('[')) {
      const ip = parseIp(host);
      if (!ip || ip.family !== 6 || !host.endsWith(']')) fail(`'${host}' is not an IPv6 address`);
      address = formatIp(ip!.bytes);
    } else {
      const ip = parseIp(host);
      if (ip) {
        if (ip.family === 6) fail(`'${target}': write IPv6 addresses in [brackets]`);
        address = formatIp(ip.bytes);
      } else if (host.length <= 253 && host.split('.').every((l) => HOST_LABEL.test(l))) address = host;
      else fail(`'${host}' is not an address`);
    }
  }
  const port = portText.toLowerCase() === 'auto' ? 'auto' : parsePortNumber(portText, 'port', address === undefined);
  if (allowedFlags !== undefined) {
    const known = new Set(allowedFlags.map((f) => f.toLowerCase()));
    for (const f of flags) {
      const name = f.split('=')[0]!.toLowerCase();
      if (!known.has(name)) fail(`unknown flag '${f}'`);
    }
  }
  return { address, port, flags };
}

// ---------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------

/**
 * How an option's value reads. Lists (list, exitpolicy, dirauthority, fallbackdir, bridge) may appear any number
 * of times and collect every value in order; the others may appear once unless `repeatable`.
 */
export type OptionKind =
  | 'string'
  | 'path'
  | 'int'
  | 'bool'
  | 'port'
  | 'bytes'
  | 'interval'
  | 'list'
  | 'exitpolicy'
  | 'dirauthority'
  | 'fallbackdir'
  | 'bridge';

/** The value type each kind gives. */
export interface OptionKindValue {
  string: string;
  /** Kept as written: expanding "~" or resolving relative paths is the host's business. */
  path: string;
  int: number;
  /** tor's booleans are 0 or 1. */
  bool: boolean;
  port: PortSetting;
  /** Bytes. */
  bytes: number;
  /** Seconds. */
  interval: number;
  /** The raw value of each occurrence (e.g. HiddenServicePort). */
  list: string;
  /** One ExitPolicy value (comma-separated rules), checked by parseExitPolicy. */
  exitpolicy: string;
  dirauthority: DirAuthorityLine;
  fallbackdir: FallbackDir;
  bridge: BridgeLine;
}

type ListKind = 'list' | 'exitpolicy' | 'dirauthority' | 'fallbackdir' | 'bridge';
const LIST_KINDS: ReadonlySet<OptionKind> = new Set<OptionKind>(['list', 'exitpolicy', 'dirauthority', 'fallbackdir', 'bridge']);
const ALL_KINDS: ReadonlySet<string> = new Set<OptionKind>([
  'string', 'path', 'int', 'bool', 'port', 'bytes', 'interval', 'list', 'exitpolicy', 'dirauthority', 'fallbackdir', 'bridge',
]);

export interface OptionSpec {
  /** Canonical spelling (tor's), used as the key of the result. */
  readonly name: string;
  readonly kind: OptionKind;
  /**
   * Value when the option is absent, written as in a torrc ("9050", "1 GByte"). Lists and
   * repeatable options take a list of such values. Without a default the value is undefined (for
   * lists and repeatable options: empty).
   */
  readonly default?: string | readonly string[];
  /** A non-list option that may appear several times (like tor's SocksPort): gives an array. */
  readonly repeatable?: boolean;
  /** Bounds for int, bytes and interval (defaults: 0 and 2^31-1 for int, 0 and 2^53-1 otherwise). */
  readonly min?: number;
  readonly max?: number;
  /** For port: the flags allowed after the address (case-insensitive; "Name=value" checks Name). */
  readonly portFlags?: readonly string[];
}

export type Schema = readonly OptionSpec[];

type OptionValue<O extends OptionSpec> = O['kind'] extends ListKind
  ? OptionKindValue[O['kind']][]
  : O extends { readonly repeatable: true }
    ? OptionKindValue[O['kind']][]
    : O extends { readonly default: string }
      ? OptionKindValue[O['kind']]
      : OptionKindValue[O['kind']] | undefined;

/** The typed result for a schema (declare the schema `as const` to get exact keys and types). */
export type TorrcConfig<S extends Schema> = { -readonly [O in S[number] as O['name']]: OptionValue<O> };

function parseValue(spec: OptionSpec, value: string): unknown {
  if (value === '') fail('missing value');
  const bounded = (n: number, defMax: number): number => {
    const min = spec.min ?? 0;
    const max = spec.max ?? defMax;
    if (n < min || n > max) fail(`'${value}' is out of range (${min}..${max})`);
    return n;
  };
  switch (spec.kind) {
    case 'string':
    case 'path':
    case 'list':
      return value;
    case 'int': {
      if (!/^[+-]?[0-9]{1,16}$/.test(value)) fail(`'${value}' is not an integer`);
      return bounded(Number(value), 2 ** 31 - 1);
    }
    case 'bool':
      if (value !== '0' && value !== '1') fail(`'${value}' is not 0 or 1`);
      return value === '1';
    case 'bytes':
      return bounded(parseByteSize(value), Number.MAX_SAFE_INTEGER);
    case 'interval':
      return bounded(parseInterval(value), Number.MAX_SAFE_INTEGER);
    case 'port':
      return parsePortSetting(value, spec.portFlags);
    case 'exitpolicy':
      try {
        parseExitPolicy(value);
      } catch (e) {
        // The option names the policy already: its reason without the parser's "exit policy: ".
        if (e instanceof ProtocolError) fail(e.context === 'exit policy' ? `${e.detail}${e.offset === undefined ? '' : ` (at byte ${e.offset})`}` : e.message);
        throw e;
      }
      return value;
    case 'dirauthority':
      return parseDirAuthority(value);
    case 'fallbackdir':
      return parseFallbackDir(value);
    case 'bridge':
      return parseBridgeLine(value);
  }
}

function isMulti(spec: OptionSpec): boolean {
  return LIST_KINDS.has(spec.kind) || spec.repeatable === true;
}

/** Checks a schema and parses its defaults; a bad schema is a bug of the caller (UsageError). */
function prepareSchema(schema: Schema): { byKey: Map<string, OptionSpec>; defaults: Map<string, unknown> } {
  const byKey = new Map<string, OptionSpec>();
  const defaults = new Map<string, unknown>();
  for (const spec of schema) {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(spec.name)) throw new UsageError(`bad option name '${spec.name}'`);
    if (!ALL_KINDS.has(spec.kind)) throw new UsageError(`option ${spec.name}: unknown kind '${String(spec.kind)}'`);
    const key = spec.name.toLowerCase();
    if (byKey.has(key)) throw new UsageError(`option ${spec.name} is declared twice`);
    byKey.set(key, spec);
    try {
      if (isMulti(spec)) {
        const d = spec.default === undefined ? [] : typeof spec.default === 'string' ? [spec.default] : spec.default;
        defaults.set(spec.name, d.map((v) => parseValue(spec, v)));
      } else if (spec.default !== undefined) {
        if (typeof spec.default !== 'string') throw new UsageError(`option ${spec.name}: default must be one value`);
        defaults.set(spec.name, parseValue(spec, spec.default));
      }
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(`option ${spec.name}: bad default: ${e.reason}`, { cause: e });
      throw e;
    }
  }
  return { byKey, defaults };
}

/** Edit distance, to suggest the option that was probably meant. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function suggest(key: string, schema: Schema): string {
  let best: string | undefined;
  let bestD = Infinity;
  const k = key.toLowerCase();
  for (const spec of schema) {
    const d = distance(k, spec.name.toLowerCase());
    if (d < bestD) {
      best = spec.name;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.min(3, Math.floor(key.length / 3))) ? `; did you mean '${best}'?` : '';
}

/**
 * Reads torrc text against a schema into a typed record keyed by the schema's spellings. Unknown
 * options, values that do not read, and singletons given twice are ConfigErrors naming the line.
 * A '/' before a list keyword empties the list gathered so far (as tor's '/' flag does).
 */
export function parseTorrc<const S extends Schema>(text: string, schema: S): TorrcConfig<S> {
  const { byKey, defaults } = prepareSchema(schema);
  const values = new Map<string, unknown>();
  const seenAt = new Map<string, number>();
  for (const entry of readTorrcEntries(text)) {
    const spec = byKey.get(entry.key.toLowerCase());
    if (spec === undefined) {
      throw new ConfigError(`unknown option '${entry.key}'${suggest(entry.key, schema)}`, entry.line, entry.text);
    }
    const multi = isMulti(spec);
    if (entry.magic === '/') {
      if (!multi) throw new ConfigError(`${spec.name}: '/' only applies to list options`, entry.line, entry.text);
      values.set(spec.name, []);
      continue;
    }
    if (!multi && seenAt.has(spec.name)) {
      throw new ConfigError(`${spec.name} given twice (first on line ${seenAt.get(spec.name)})`, entry.line, entry.text);
    }
    let v: unknown;
    try {
      v = parseValue(spec, entry.value);
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`${spec.name}: ${e.reason}`, entry.line, entry.text, { cause: e });
      throw e;
    }
    seenAt.set(spec.name, entry.line);
    if (multi) {
      const list = (values.get(spec.name) as unknown[] | undefined) ?? [];
      list.push(v);
      values.set(spec.name, list);
    } else values.set(spec.name, v);
  }
  const out: Record<string, unknown> = {};
  for (const spec of schema) {
    out[spec.name] = values.has(spec.name) ? values.get(spec.name) : defaults.get(spec.name);
  }
  return out as TorrcConfig<S>;
}
