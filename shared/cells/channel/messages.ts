import { Reader, Writer, openEnum } from '../../bytes/index.ts';
import { UsageError } from '../../util/index.ts';
import { readTorAddress, writeTorAddress, type TorAddress } from '../address.ts';
import { CELL_BODY_LEN, ChanCmd } from './command.ts';
import { CertsCell } from './certs.ts';

/**
 * One class per channel message (tor-spec). `decode(body)` takes the cell body (for fixed cells the
 * whole 509 bytes, zero padding included, which decoders ignore); `encode()` gives the body without
 * padding (framing pads fixed cells). Each message knows its `command`.
 */

/** DESTROY / TRUNCATED reasons (tor-spec "Tearing down circuits"). */
export const DestroyReason = openEnum({
  NONE: 0,
  PROTOCOL: 1,
  INTERNAL: 2,
  REQUESTED: 3,
  HIBERNATING: 4,
  RESOURCELIMIT: 5,
  CONNECTFAILED: 6,
  OR_IDENTITY: 7,
  CHANNEL_CLOSED: 8,
  FINISHED: 9,
  TIMEOUT: 10,
  DESTROYED: 11,
  NOSUCHSERVICE: 12,
});

/** CREATE2 handshake types (tor-spec "CREATE2 cells"). */
export const HandshakeType = openEnum({ TAP: 0, FAST: 1, NTOR: 2, NTOR_V3: 3 });

export class Padding {
  readonly command = ChanCmd.PADDING;
  static decode(_body: Uint8Array): Padding {
    return new Padding();
  }
  encode(): Uint8Array {
    return new Uint8Array(0);
  }
}

/** Variable-length padding; the bytes carry nothing but are kept so a cell re-encodes exactly. */
export class Vpadding {
  readonly command = ChanCmd.VPADDING;
  constructor(readonly padding: Uint8Array) {}
  static ofLength(n: number): Vpadding {
    return new Vpadding(new Uint8Array(n));
  }
  static decode(body: Uint8Array): Vpadding {
    return new Vpadding(body.slice());
  }
  encode(): Uint8Array {
    return this.padding;
  }
}

export class Versions {
  readonly command = ChanCmd.VERSIONS;
  constructor(readonly versions: readonly number[]) {}
  static decode(body: Uint8Array): Versions {
    const r = new Reader(body, 'VERSIONS cell');
    if (body.length % 2 !== 0) throw r.error(`odd body length ${body.length}`);
    const versions: number[] = [];
    while (r.remaining > 0) versions.push(r.u16('version'));
    return new Versions(versions);
  }
  encode(): Uint8Array {
    const w = new Writer(this.versions.length * 2);
    for (const v of this.versions) w.u16(v);
    return w.finish();
  }
  /** The highest version both sides support, if any. */
  bestCommon(ours: readonly number[]): number | undefined {
    const common = this.versions.filter((v) => ours.includes(v));
    return common.length > 0 ? Math.max(...common) : undefined;
  }
}

export class AuthChallenge {
  readonly command = ChanCmd.AUTH_CHALLENGE;
  constructor(readonly challenge: Uint8Array, readonly methods: readonly number[]) {
    if (challenge.length !== 32) throw new UsageError('AUTH_CHALLENGE challenge must be 32 bytes');
  }
  static decode(body: Uint8Array): AuthChallenge {
    const r = new Reader(body, 'AUTH_CHALLENGE cell');
    const challenge = r.bytesN(32, 'challenge').slice();
    const n = r.u16('method count');
    const methods: number[] = [];
    for (let i = 0; i < n; i++) methods.push(r.u16('method'));
    r.shouldBeExhausted();
    return new AuthChallenge(challenge, methods);
  }
  encode(): Uint8Array {
    const w = new Writer(34 + 2 * this.methods.length).bytes(this.challenge).u16(this.methods.length);
    for (const m of this.methods) w.u16(m);
    return w.finish();
  }
}

/** AUTHENTICATE authentication methods (tor-spec "AUTHENTICATE cells"). */
export const AuthMethod = openEnum({ RSA_SHA256_TLSSECRET: 1, ED25519_SHA256_RFC5705: 3 });

export class Authenticate {
  readonly command = ChanCmd.AUTHENTICATE;
  constructor(readonly authType: number, readonly authentication: Uint8Array) {}
  static decode(body: Uint8Array): Authenticate {
    const r = new Reader(body, 'AUTHENTICATE cell');
    const authType = r.u16('auth type');
    const auth = r.lenU16('authentication').slice();
    r.shouldBeExhausted();
    return new Authenticate(authType, auth);
  }
  encode(): Uint8Array {
    return new Writer(4 + this.authentication.length).u16(this.authType).lenU16(this.authentication).finish();
  }
}

export class Netinfo {
  readonly command = ChanCmd.NETINFO;
  /**
   * @param timestamp seconds since the epoch (relays send their clock; clients send 0)
   * @param otherAddress the address of the party this cell is sent to, as the sender sees it
   * @param myAddresses the sender's own addresses (clients send none)
   */
  constructor(readonly timestamp: number, readonly otherAddress: TorAddress, readonly myAddresses: readonly TorAddress[]) {}
  static decode(body: Uint8Array): Netinfo {
    const r = new Reader(body, 'NETINFO cell');
    const timestamp = r.u32('timestamp');
    const other = readTorAddress(r);
    const n = r.u8('address count');
    const mine: TorAddress[] = [];
    for (let i = 0; i < n; i++) mine.push(readTorAddress(r));
    return new Netinfo(timestamp, other, mine);
  }
  encode(): Uint8Array {
    const w = new Writer(64).u32(this.timestamp);
    writeTorAddress(w, this.otherAddress);
    w.u8(this.myAddresses.length);
    for (const a of this.myAddresses) writeTorAddress(w, a);
    return w.finish();
  }
}

export class PaddingNegotiate {
  readonly command = ChanCmd.PADDING_NEGOTIATE;
  static readonly STOP = 1;
  static readonly START = 2;
  constructor(readonly version: number, readonly paddingCommand: number, readonly itoLowMs: number, readonly itoHighMs: number) {}
  static decode(body: Uint8Array): PaddingNegotiate {
    const r = new Reader(body, 'PADDING_NEGOTIATE cell');
    return new PaddingNegotiate(r.u8('version'), r.u8('command'), r.u16('ito_low_ms'), r.u16('ito_high_ms'));
  }
  encode(): Uint8Array {
    return new Writer(6).u8(this.version).u8(this.paddingCommand).u16(this.itoLowMs).u16(this.itoHighMs).finish();
  }
}

export class Create2 {
  readonly command = ChanCmd.CREATE2;
  constructor(readonly handshakeType: number, readonly handshakeData: Uint8Array) {}
  static decode(body: Uint8Array): Create2 {
    const r = new Reader(body, 'CREATE2 cell');
    const type = r.u16('handshake type');
    return new Create2(type, r.lenU16('handshake data').slice());
  }
  encode(): Uint8Array {
    return new Writer(4 + this.handshakeData.length).u16(this.handshakeType).lenU16(this.handshakeData).finish();
  }
}

export class Created2 {
  readonly command = ChanCmd.CREATED2;
  constructor(readonly handshakeData: Uint8Array) {}
  static decode(body: Uint8Array): Created2 {
    return new Created2(new Reader(body, 'CREATED2 cell').lenU16('handshake data').slice());
  }
  encode(): Uint8Array {
    return new Writer(2 + this.handshakeData.length).lenU16(this.handshakeData).finish();
  }
}

export class CreateFast {
  readonly command = ChanCmd.CREATE_FAST;
  constructor(readonly x: Uint8Array) {
    if (x.length !== 20) throw new UsageError('CREATE_FAST X must be 20 bytes');
  }
  static decode(body: Uint8Array): CreateFast {
    return new CreateFast(new Reader(body, 'CREATE_FAST cell').bytesN(20, 'X').slice());
  }
  encode(): Uint8Array {
    return this.x.slice();
  }
}

export class CreatedFast {
  readonly command = ChanCmd.CREATED_FAST;
  constructor(readonly y: Uint8Array, readonly kh: Uint8Array) {
    if (y.length !== 20 || kh.length !== 20) throw new UsageError('CREATED_FAST Y and KH must be 20 bytes');
  }
  static decode(body: Uint8Array): CreatedFast {
    const r = new Reader(body, 'CREATED_FAST cell');
    return new CreatedFast(r.bytesN(20, 'Y').slice(), r.bytesN(20, 'KH').slice());
  }
  encode(): Uint8Array {
    return new Writer(40).bytes(this.y).bytes(this.kh).finish();
  }
}

export class Destroy {
  readonly command = ChanCmd.DESTROY;
  constructor(readonly reason: number) {}
  static decode(body: Uint8Array): Destroy {
    // An empty body (never sent by tor, but harmless) means NONE.
    return new Destroy(body.length > 0 ? body[0]! : DestroyReason.NONE);
  }
  encode(): Uint8Array {
    return Uint8Array.of(this.reason);
  }
}

/** RELAY and RELAY_EARLY: 509 opaque (onion-encrypted) bytes; cells/relay decodes them after decryption. */
export class Relay {
  constructor(readonly body: Uint8Array, readonly early = false) {
    if (body.length !== CELL_BODY_LEN) throw new UsageError(`relay cell body must be ${CELL_BODY_LEN} bytes, got ${body.length}`);
  }
  get command(): number {
    return this.early ? ChanCmd.RELAY_EARLY : ChanCmd.RELAY;
  }
  static decode(body: Uint8Array, early = false): Relay {
    if (body.length !== CELL_BODY_LEN) return new Relay(new Reader(body, early ? 'RELAY_EARLY cell' : 'RELAY cell').bytesN(CELL_BODY_LEN, 'relay body').slice(), early);
    return new Relay(body, early);
  }
  encode(): Uint8Array {
    return this.body;
  }
}

/** A command this code does not interpret (or TAP's CREATE/CREATED, which 0.4.9 no longer speaks). */
export class UnrecognizedChanMsg {
  constructor(readonly command: number, readonly body: Uint8Array) {}
  encode(): Uint8Array {
    return this.body;
  }
}

export type ChanMsg =
  | Padding | Vpadding | Versions | CertsCell | AuthChallenge | Authenticate | Netinfo | PaddingNegotiate
  | Create2 | Created2 | CreateFast | CreatedFast | Destroy | Relay | UnrecognizedChanMsg;

/** Decode a channel cell body by command; unknown commands stay representable. */
export function decodeChanMsg(command: number, body: Uint8Array): ChanMsg {
  switch (command) {
    case ChanCmd.PADDING: return Padding.decode(body);
    case ChanCmd.VPADDING: return Vpadding.decode(body);
    case ChanCmd.VERSIONS: return Versions.decode(body);
    case ChanCmd.CERTS: return CertsCell.decode(body);
    case ChanCmd.AUTH_CHALLENGE: return AuthChallenge.decode(body);
    case ChanCmd.AUTHENTICATE: return Authenticate.decode(body);
    case ChanCmd.NETINFO: return Netinfo.decode(body);
    case ChanCmd.PADDING_NEGOTIATE: return PaddingNegotiate.decode(body);
    case ChanCmd.CREATE2: return Create2.decode(body);
    case ChanCmd.CREATED2: return Created2.decode(body);
    case ChanCmd.CREATE_FAST: return CreateFast.decode(body);
    case ChanCmd.CREATED_FAST: return CreatedFast.decode(body);
    case ChanCmd.DESTROY: return Destroy.decode(body);
    case ChanCmd.RELAY: return Relay.decode(body);
    case ChanCmd.RELAY_EARLY: return Relay.decode(body, true);
    default: return new UnrecognizedChanMsg(command, body.slice());
  }
}

/** Frame-ready form of a message: its command and encoded body. */
export function encodeChanMsg(msg: ChanMsg): { command: number; body: Uint8Array } {
  return { command: msg.command, body: msg.encode() };
}
