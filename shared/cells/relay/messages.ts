import { Reader, Writer, openEnum } from '../../bytes/index.ts';
import { ProtocolError, UsageError } from '../../util/index.ts';
import { formatIp } from '../../addr/index.ts';
import { RelayCmd } from './command.ts';
import { readLinkSpecifiers, writeLinkSpecifiers, type LinkSpecifier } from './link-specifier.ts';
import { RELAY_DATA_MAX } from './header.ts';

/**
 * Relay messages for streams and circuits (tor-spec "Opening streams", "Closing streams",
 * "Remote hostname lookup", "Flow control", "EXTEND2", "Tearing down circuits"). Each class
 * decodes from and encodes to the relay cell's data field (cells/relay/header.ts frames it).
 */

/** RELAY_END reasons (tor-spec "Closing streams"). */
export const EndReason = openEnum({
  MISC: 1,
  RESOLVEFAILED: 2,
  CONNECTREFUSED: 3,
  EXITPOLICY: 4,
  DESTROY: 5,
  DONE: 6,
  TIMEOUT: 7,
  NOROUTE: 8,
  HIBERNATING: 9,
  INTERNAL: 10,
  RESOURCELIMIT: 11,
  CONNRESET: 12,
  TORPROTOCOL: 13,
  NOTDIRECTORY: 14,
});

/** BEGIN flags (tor-spec "Opening streams"): bit 1 is the least significant. */
export const BeginFlags = {
  IPV6_OK: 1 << 0,
  IPV4_NOT_OK: 1 << 1,
  IPV6_PREFERRED: 1 << 2,
} as const;

/** A NUL-terminated printable-ASCII string, as BEGIN and RESOLVE carry. */
function readNulTerminated(r: Reader, what: string): string {
  const bytes = r.nulTerminated(what);
  for (const b of bytes) if (b < 0x20 || b > 0x7e) throw r.error(`${what} contains a non-printable byte 0x${b.toString(16)}`);
  return String.fromCharCode(...bytes);
}

export class Begin {
  readonly command = RelayCmd.BEGIN;
  /**
   * @param host hostname or address as the client typed it (never resolved by the client); empty for
   *   onion-service streams, where only the port matters
   * @param flags BeginFlags bits
   */
  constructor(readonly host: string, readonly port: number, readonly flags = 0) {
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new UsageError(`BEGIN port ${port} out of range`);
    if (/[\x00-\x1f\x7f-\uffff]/.test(host)) throw new UsageError('BEGIN host must be printable ASCII');
  }

  /** `addrport`: host:port with IPv6 addresses in brackets. */
  get addrPort(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  static decode(data: Uint8Array): Begin {
    const r = new Reader(data, 'BEGIN message');
    const addrport = readNulTerminated(r, 'address:port');
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addrport);
    if (!m) throw new ProtocolError('BEGIN message', `malformed address:port "${addrport.slice(0, 80)}"`);
    const port = Number(m[3]);
    if (port > 0xffff) throw new ProtocolError('BEGIN message', `port ${port} out of range`);
    const flags = r.remaining >= 4 ? r.u32('flags') : 0;
    return new Begin(m[1] ?? m[2]!, port, flags);
  }

  encode(): Uint8Array {
    const w = new Writer(this.host.length + 12);
    for (let i = 0; i < this.addrPort.length; i++) w.u8(this.addrPort.charCodeAt(i));
    w.u8(0);
    if (this.flags !== 0) w.u32(this.flags);
    return w.finish();
  }
}

export class Data {
  readonly command = RelayCmd.DATA;
  constructor(readonly data: Uint8Array) {
    if (data.length > RELAY_DATA_MAX) throw new UsageError(`DATA of ${data.length} bytes exceeds ${RELAY_DATA_MAX}`);
  }
  static decode(data: Uint8Array): Data {
    return new Data(data.slice());
  }
  encode(): Uint8Array {
    return this.data;
  }
}

/** An address an exit reports with a TTL (END for EXITPOLICY, CONNECTED). */
export interface AddressTtl {
  readonly address: Uint8Array;
  readonly ttl: number;
}

export class End {
  readonly command = RelayCmd.END;
  constructor(readonly reason: number, readonly exitPolicyAddress?: AddressTtl) {}
  static decode(data: Uint8Array): End {
    const r = new Reader(data, 'END message');
    // tor-spec: an END with no body means MISC.
    if (r.remaining === 0) return new End(EndReason.MISC);
    const reason = r.u8('reason');
    if (reason === EndReason.EXITPOLICY && [4, 8, 16, 20].includes(r.remaining)) {
      const withTtl = r.remaining === 8 || r.remaining === 20;
      const address = r.bytesN(withTtl ? r.remaining - 4 : r.remaining, 'address').slice();
      // Old relays omitted the TTL; tor then treats the answer as not cacheable-forever (max TTL).
      return new End(reason, { address, ttl: withTtl ? r.u32('TTL') : 0xffffffff });
    }
    return new End(reason);
  }
  encode(): Uint8Array {
    const w = new Writer(24).u8(this.reason);
    if (this.exitPolicyAddress) w.bytes(this.exitPolicyAddress.address).u32(this.exitPolicyAddress.ttl);
    return w.finish();
  }
}

export class Connected {
  readonly command = RelayCmd.CONNECTED;
  constructor(readonly resolved?: AddressTtl) {}
  static decode(data: Uint8Array): Connected {
    const r = new Reader(data, 'CONNECTED message');
    if (r.remaining === 0) return new Connected();
    const v4 = r.bytesN(4, 'IPv4 address');
    if (v4.some((b) => b !== 0)) return new Connected({ address: v4.slice(), ttl: r.u32('TTL') });
    const type = r.u8('address type');
    if (type !== 6) throw r.error(`CONNECTED address type ${type}, expected 6`);
    const v6 = r.bytesN(16, 'IPv6 address').slice();
    return new Connected({ address: v6, ttl: r.u32('TTL') });
  }
  encode(): Uint8Array {
    if (!this.resolved) return new Uint8Array(0);
    const { address, ttl } = this.resolved;
    if (address.length === 4) return new Writer(8).bytes(address).u32(ttl).finish();
    if (address.length === 16) return new Writer(25).u32(0).u8(6).bytes(address).u32(ttl).finish();
    throw new UsageError(`CONNECTED address of ${address.length} bytes`);
  }
}

/** SENDME (tor-spec "Flow control", prop 289): v0 is empty, v1 carries the digest it acknowledges. */
export class Sendme {
  readonly command = RelayCmd.SENDME;
  constructor(readonly version: number = 0, readonly payload: Uint8Array = new Uint8Array(0)) {}
  /** An authenticated SENDME v1 acknowledging the cell whose running digest is `digest`. */
  static v1(digest: Uint8Array): Sendme {
    if (digest.length !== 20) throw new UsageError('SENDME v1 digest must be 20 bytes');
    return new Sendme(1, digest.slice());
  }
  /** The acknowledged digest, for v1. */
  get digest(): Uint8Array | undefined {
    return this.version === 1 && this.payload.length === 20 ? this.payload : undefined;
  }
  static decode(data: Uint8Array): Sendme {
    const r = new Reader(data, 'SENDME message');
    if (r.remaining === 0) return new Sendme();
    const version = r.u8('version');
    const payload = r.lenU16('data').slice();
    if (version === 1 && payload.length !== 20) throw new ProtocolError('SENDME message', `v1 digest of ${payload.length} bytes, expected 20`);
    return new Sendme(version, payload);
  }
  encode(): Uint8Array {
    if (this.version === 0 && this.payload.length === 0) return new Uint8Array(0);
    return new Writer(3 + this.payload.length).u8(this.version).lenU16(this.payload).finish();
  }
}

export class Extend2 {
  readonly command = RelayCmd.EXTEND2;
  constructor(readonly linkSpecifiers: readonly LinkSpecifier[], readonly handshakeType: number, readonly handshakeData: Uint8Array) {}
  static decode(data: Uint8Array): Extend2 {
    const r = new Reader(data, 'EXTEND2 message');
    const specs = readLinkSpecifiers(r);
    const type = r.u16('handshake type');
    const hdata = r.lenU16('handshake data').slice();
    return new Extend2(specs, type, hdata);
  }
  encode(): Uint8Array {
    const w = new Writer(128 + this.handshakeData.length);
    writeLinkSpecifiers(w, this.linkSpecifiers);
    return w.u16(this.handshakeType).lenU16(this.handshakeData).finish();
  }
}

export class Extended2 {
  readonly command = RelayCmd.EXTENDED2;
  constructor(readonly handshakeData: Uint8Array) {}
  static decode(data: Uint8Array): Extended2 {
    return new Extended2(new Reader(data, 'EXTENDED2 message').lenU16('handshake data').slice());
  }
  encode(): Uint8Array {
    return new Writer(2 + this.handshakeData.length).lenU16(this.handshakeData).finish();
  }
}

export class Truncate {
  readonly command = RelayCmd.TRUNCATE;
  /**
   * tor-spec leaves TRUNCATE's body unspecified, but tor reads one byte (a DestroyReason it passes
   * on to the next hop) and destroys the circuit when it is missing, so we always send it.
   */
  constructor(readonly reason = 0) {}
  static decode(data: Uint8Array): Truncate {
    return new Truncate(data.length > 0 ? data[0]! : 0);
  }
  encode(): Uint8Array {
    return Uint8Array.of(this.reason);
  }
}

export class Truncated {
  readonly command = RelayCmd.TRUNCATED;
  /** @param reason a DestroyReason */
  constructor(readonly reason: number) {}
  static decode(data: Uint8Array): Truncated {
    return new Truncated(new Reader(data, 'TRUNCATED message').u8('reason'));
  }
  encode(): Uint8Array {
    return Uint8Array.of(this.reason);
  }
}

/** Long-range padding: the receiving hop drops it. */
export class Drop {
  readonly command = RelayCmd.DROP;
  constructor(readonly data: Uint8Array = new Uint8Array(0)) {}
  static decode(data: Uint8Array): Drop {
    return new Drop(data.slice());
  }
  encode(): Uint8Array {
    return this.data;
  }
}

export class Resolve {
  readonly command = RelayCmd.RESOLVE;
  constructor(readonly hostname: string) {
    if (/[\x00-\x1f\x7f-\uffff]/.test(hostname)) throw new UsageError('RESOLVE hostname must be printable ASCII');
  }
  static decode(data: Uint8Array): Resolve {
    return new Resolve(readNulTerminated(new Reader(data, 'RESOLVE message'), 'hostname'));
  }
  encode(): Uint8Array {
    const w = new Writer(this.hostname.length + 1);
    for (let i = 0; i < this.hostname.length; i++) w.u8(this.hostname.charCodeAt(i));
    return w.u8(0).finish();
  }
}

/** RESOLVED answer types (tor-spec "Remote hostname lookup"). */
export const ResolvedType = openEnum({ HOSTNAME: 0x00, IPV4: 0x04, IPV6: 0x06, ERROR_TRANSIENT: 0xf0, ERROR_NONTRANSIENT: 0xf1 });

export interface ResolvedAnswer {
  readonly type: number;
  readonly value: Uint8Array;
  readonly ttl: number;
}

export class Resolved {
  readonly command = RelayCmd.RESOLVED;
  constructor(readonly answers: readonly ResolvedAnswer[]) {}
  static decode(data: Uint8Array): Resolved {
    const r = new Reader(data, 'RESOLVED message');
    const answers: ResolvedAnswer[] = [];
    while (r.remaining > 0) {
      const type = r.u8('answer type');
      const value = r.lenU8('answer value').slice();
      if (type === ResolvedType.IPV4 && value.length !== 4) throw r.error(`IPv4 answer of ${value.length} bytes`);
      if (type === ResolvedType.IPV6 && value.length !== 16) throw r.error(`IPv6 answer of ${value.length} bytes`);
      answers.push({ type, value, ttl: r.u32('TTL') });
    }
    return new Resolved(answers);
  }
  encode(): Uint8Array {
    const w = new Writer(64);
    for (const a of this.answers) w.u8(a.type).lenU8(a.value).u32(a.ttl);
    return w.finish();
  }
  /** Answers as text: addresses formatted, hostnames decoded. */
  describe(): string[] {
    return this.answers.map((a) => {
      if (a.type === ResolvedType.IPV4 || a.type === ResolvedType.IPV6) return formatIp(a.value);
      if (a.type === ResolvedType.HOSTNAME) return String.fromCharCode(...a.value);
      return ResolvedType.nameOf(a.type);
    });
  }
}

export class BeginDir {
  readonly command = RelayCmd.BEGIN_DIR;
  static decode(_data: Uint8Array): BeginDir {
    return new BeginDir();
  }
  encode(): Uint8Array {
    return new Uint8Array(0);
  }
}
