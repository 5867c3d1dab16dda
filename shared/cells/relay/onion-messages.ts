import { Reader, Writer, openEnum } from '../../bytes/index.ts';
import { UsageError } from '../../util/index.ts';
import { RelayCmd } from './command.ts';

/**
 * Onion-service relay messages (rend-spec-v3 "Introduction protocol", "Rendezvous protocol").
 * Cryptographic checks (MACs, signatures, hs-ntor) belong to the onion-service layer; these
 * classes only frame the bytes, and expose the byte ranges that layer authenticates.
 */

/** An extension field in onion-service cells: type u8, length u8, body. Unknown types are kept. */
export interface CellExtension {
  readonly type: number;
  readonly body: Uint8Array;
}

function readExtensions(r: Reader): CellExtension[] {
  const n = r.u8('extension count');
  const out: CellExtension[] = [];
  for (let i = 0; i < n; i++) {
    const type = r.u8('extension type');
    out.push({ type, body: r.lenU8('extension body').slice() });
  }
  return out;
}

function writeExtensions(w: Writer, exts: readonly CellExtension[]): void {
  w.u8(exts.length);
  for (const e of exts) w.u8(e.type).lenU8(e.body);
}

/** AUTH_KEY_TYPE values: 0/1 are legacy RSA hashes, 2 is Ed25519 (the only one v3 uses). */
export const HsAuthKeyType = openEnum({ LEGACY_HASH_0: 0, LEGACY_HASH_1: 1, ED25519: 2 });

export class EstablishIntro {
  readonly command = RelayCmd.ESTABLISH_INTRO;
  constructor(
    readonly authKeyType: number,
    readonly authKey: Uint8Array,
    readonly extensions: readonly CellExtension[],
    /** HANDSHAKE_AUTH: MAC over everything before it, keyed with the circuit's KH. */
    readonly handshakeAuth: Uint8Array,
    readonly signature: Uint8Array,
  ) {
    if (handshakeAuth.length !== 32) throw new UsageError('ESTABLISH_INTRO HANDSHAKE_AUTH must be 32 bytes');
  }

  /**
   * Decode, also returning the authenticated ranges: `macCovered` (everything up to HANDSHAKE_AUTH)
   * and `signatureCovered` (everything up to SIG_LEN).
   */
  static decodeWithRanges(data: Uint8Array): { msg: EstablishIntro; macCovered: Uint8Array; signatureCovered: Uint8Array } {
    const r = new Reader(data, 'ESTABLISH_INTRO message');
    const authKeyType = r.u8('auth key type');
    const authKey = r.lenU16('auth key').slice();
    const extensions = readExtensions(r);
    const macEnd = r.consumed;
    const handshakeAuth = r.bytesN(32, 'handshake auth').slice();
    const sigStart = r.consumed;
    const signature = r.lenU16('signature').slice();
    r.shouldBeExhausted();
    return {
      msg: new EstablishIntro(authKeyType, authKey, extensions, handshakeAuth, signature),
      macCovered: data.subarray(0, macEnd),
      signatureCovered: data.subarray(0, sigStart),
    };
  }

  static decode(data: Uint8Array): EstablishIntro {
    return EstablishIntro.decodeWithRanges(data).msg;
  }

  /** The bytes HANDSHAKE_AUTH is computed over (everything before it). */
  macCoveredBytes(): Uint8Array {
    const w = new Writer(64 + this.authKey.length).u8(this.authKeyType).lenU16(this.authKey);
    writeExtensions(w, this.extensions);
    return w.finish();
  }

  encode(): Uint8Array {
    return new Writer(200).bytes(this.macCoveredBytes()).bytes(this.handshakeAuth).lenU16(this.signature).finish();
  }
}

export class IntroEstablished {
  readonly command = RelayCmd.INTRO_ESTABLISHED;
  constructor(readonly extensions: readonly CellExtension[] = []) {}
  static decode(data: Uint8Array): IntroEstablished {
    // Older services sent an empty body; treat it as no extensions.
    if (data.length === 0) return new IntroEstablished();
    const r = new Reader(data, 'INTRO_ESTABLISHED message');
    const exts = readExtensions(r);
    r.shouldBeExhausted();
    return new IntroEstablished(exts);
  }
  encode(): Uint8Array {
    const w = new Writer(8);
    writeExtensions(w, this.extensions);
    return w.finish();
  }
}

/**
 * INTRODUCE1 (client → introduction point) and INTRODUCE2 (introduction point → service) share a
 * layout: LEGACY_KEY_ID (20 zero bytes) | AUTH_KEY_TYPE | AUTH_KEY_LEN | AUTH_KEY | extensions |
 * ENCRYPTED (opaque here; the hs-ntor layer decrypts it).
 */
abstract class IntroduceBase {
  abstract readonly command: number;
  constructor(
    readonly legacyKeyId: Uint8Array,
    readonly authKeyType: number,
    readonly authKey: Uint8Array,
    readonly extensions: readonly CellExtension[],
    readonly encrypted: Uint8Array,
  ) {
    if (legacyKeyId.length !== 20) throw new UsageError('INTRODUCE LEGACY_KEY_ID must be 20 bytes');
  }

  protected static fields(data: Uint8Array, context: string) {
    const r = new Reader(data, context);
    const legacyKeyId = r.bytesN(20, 'legacy key id').slice();
    const authKeyType = r.u8('auth key type');
    const authKey = r.lenU16('auth key').slice();
    const extensions = readExtensions(r);
    const headerLength = r.consumed;
    const encrypted = r.rest().slice();
    return { legacyKeyId, authKeyType, authKey, extensions, encrypted, headerLength };
  }

  /** Everything before ENCRYPTED (hs-ntor binds it into the MAC). */
  headerBytes(): Uint8Array {
    const w = new Writer(64 + this.authKey.length).bytes(this.legacyKeyId).u8(this.authKeyType).lenU16(this.authKey);
    writeExtensions(w, this.extensions);
    return w.finish();
  }

  encode(): Uint8Array {
    return new Writer(256 + this.encrypted.length).bytes(this.headerBytes()).bytes(this.encrypted).finish();
  }
}

export class Introduce1 extends IntroduceBase {
  readonly command = RelayCmd.INTRODUCE1;
  static decode(data: Uint8Array): Introduce1 {
    const f = IntroduceBase.fields(data, 'INTRODUCE1 message');
    return new Introduce1(f.legacyKeyId, f.authKeyType, f.authKey, f.extensions, f.encrypted);
  }
}

export class Introduce2 extends IntroduceBase {
  readonly command = RelayCmd.INTRODUCE2;
  static decode(data: Uint8Array): Introduce2 {
    const f = IntroduceBase.fields(data, 'INTRODUCE2 message');
    return new Introduce2(f.legacyKeyId, f.authKeyType, f.authKey, f.extensions, f.encrypted);
  }
  /** The introduction point relays INTRODUCE1 as INTRODUCE2 with the same body. */
  static fromIntroduce1(m: Introduce1): Introduce2 {
    return new Introduce2(m.legacyKeyId, m.authKeyType, m.authKey, m.extensions, m.encrypted);
  }
}

export const IntroduceAckStatus = openEnum({ SUCCESS: 0, FAILURE: 1, BAD_MESSAGE_FORMAT: 2, CANT_RELAY: 3 });

export class IntroduceAck {
  readonly command = RelayCmd.INTRODUCE_ACK;
  constructor(readonly status: number, readonly extensions: readonly CellExtension[] = []) {}
  static decode(data: Uint8Array): IntroduceAck {
    // Pre-v3 introduction points acknowledged with an empty body, meaning success.
    if (data.length === 0) return new IntroduceAck(IntroduceAckStatus.SUCCESS);
    const r = new Reader(data, 'INTRODUCE_ACK message');
    const status = r.u16('status');
    const exts = r.remaining > 0 ? readExtensions(r) : [];
    return new IntroduceAck(status, exts);
  }
  encode(): Uint8Array {
    const w = new Writer(8).u16(this.status);
    writeExtensions(w, this.extensions);
    return w.finish();
  }
}

export class EstablishRendezvous {
  readonly command = RelayCmd.ESTABLISH_RENDEZVOUS;
  constructor(readonly cookie: Uint8Array) {
    if (cookie.length !== 20) throw new UsageError('rendezvous cookie must be 20 bytes');
  }
  static decode(data: Uint8Array): EstablishRendezvous {
    const r = new Reader(data, 'ESTABLISH_RENDEZVOUS message');
    return new EstablishRendezvous(r.bytesN(20, 'rendezvous cookie').slice());
  }
  encode(): Uint8Array {
    return this.cookie.slice();
  }
}

export class Rendezvous1 {
  readonly command = RelayCmd.RENDEZVOUS1;
  /** @param handshakeInfo for hs-ntor: SERVER_PK (32) | AUTH (32) */
  constructor(readonly cookie: Uint8Array, readonly handshakeInfo: Uint8Array) {
    if (cookie.length !== 20) throw new UsageError('rendezvous cookie must be 20 bytes');
  }
  static decode(data: Uint8Array): Rendezvous1 {
    const r = new Reader(data, 'RENDEZVOUS1 message');
    return new Rendezvous1(r.bytesN(20, 'rendezvous cookie').slice(), r.rest().slice());
  }
  encode(): Uint8Array {
    return new Writer(20 + this.handshakeInfo.length).bytes(this.cookie).bytes(this.handshakeInfo).finish();
  }
}

export class Rendezvous2 {
  readonly command = RelayCmd.RENDEZVOUS2;
  constructor(readonly handshakeInfo: Uint8Array) {}
  static decode(data: Uint8Array): Rendezvous2 {
    return new Rendezvous2(data.slice());
  }
  /** The rendezvous point relays RENDEZVOUS1's handshake info to the client unchanged. */
  static fromRendezvous1(m: Rendezvous1): Rendezvous2 {
    return new Rendezvous2(m.handshakeInfo);
  }
  encode(): Uint8Array {
    return this.handshakeInfo;
  }
}

export class RendezvousEstablished {
  readonly command = RelayCmd.RENDEZVOUS_ESTABLISHED;
  static decode(_data: Uint8Array): RendezvousEstablished {
    return new RendezvousEstablished();
  }
  encode(): Uint8Array {
    return new Uint8Array(0);
  }
}
