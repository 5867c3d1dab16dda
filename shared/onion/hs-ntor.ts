import { ctr } from '@noble/ciphers/aes.js';
import { sha3_256, shake256 } from '@noble/hashes/sha3.js';
import { HandshakeError, UsageError } from '../util/index.ts';
import { concatBytes, equalBytesConstantTime, utf8 } from '../bytes/index.ts';
import { nobleCurve25519, secureRandomBytes, HS_V3_KEY_MATERIAL_LEN, type Curve25519, type NtorKeyPair, type RandomBytes } from '../crypto/index.ts';

/**
 * hs-ntor (rend-spec-v3 [NTOR-WITH-EXTRA-DATA]): ntor in which the service's introduction-point
 * encryption key B stands in for the relay's onion key and the introduction point's AUTH_KEY for its
 * identity. Besides the forward-secure circuit keys it yields ENC_KEY/MAC_KEY from EXP(B,x) alone,
 * so the client can encrypt the INTRODUCE1 plaintext to the service before the service has answered
 * (that part is not forward secret). The MAC covers the whole INTRODUCE1 body up to itself, so an
 * introduction point cannot alter the visible header either.
 *
 * Client: `HsNtorClient.start` encrypts the introduction and gives a pending state whose one move is
 * `finish(RENDEZVOUS2 HANDSHAKE_INFO)`. Service: `HsNtorService.open` checks and decrypts an
 * INTRODUCE2; its pending state's `respond` makes RENDEZVOUS1's HANDSHAKE_INFO. Both end with the
 * same 128 bytes of key material for the virtual hop (`hsV3KeysFrom` in crypto/circuit-keys.ts).
 */

const PROTOID = utf8('tor-hs-ntor-curve25519-sha3-256-1');
const T_HSENC = utf8('tor-hs-ntor-curve25519-sha3-256-1:hs_key_extract');
const T_HSVERIFY = utf8('tor-hs-ntor-curve25519-sha3-256-1:hs_verify');
const T_HSMAC = utf8('tor-hs-ntor-curve25519-sha3-256-1:hs_mac');
const M_HSEXPAND = utf8('tor-hs-ntor-curve25519-sha3-256-1:hs_key_expand');
const SERVER = utf8('Server');

const KEY_LEN = 32;
export const HS_NTOR_MAC_LEN = 32;
/** The smallest ENCRYPTED section: CLIENT_PK and MAC around an empty ciphertext. */
export const HS_NTOR_MIN_ENCRYPTED_LEN = KEY_LEN + HS_NTOR_MAC_LEN;
/** HANDSHAKE_INFO of RENDEZVOUS1/RENDEZVOUS2: SERVER_PK Y | AUTH. */
export const HS_NTOR_HANDSHAKE_INFO_LEN = KEY_LEN + HS_NTOR_MAC_LEN;

/** rend-spec-v3's MAC(key, msg) = SHA3-256(htonll(len(key)) | key | msg). */
export function hsMac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(key.length));
  return sha3_256.create().update(len).update(key).update(msg).digest();
}

/** The introduction keys: ENC_KEY (AES-256-CTR, zero IV) and MAC_KEY, both 32 bytes. */
export interface HsIntroKeys {
  readonly encKey: Uint8Array;
  readonly macKey: Uint8Array;
}

/** What both sides know about one introduction point of one service in one time period. */
export interface HsNtorIntroPoint {
  /** AUTH_KEY: the introduction point authentication key KP_hs_ipt_sid (Ed25519, 32 bytes). */
  readonly authKey: Uint8Array;
  /** B: the service's introduction encryption key KP_hss_ntor (Curve25519, 32 bytes). */
  readonly encKey: Uint8Array;
  /** N_hs_subcred for the time period (32 bytes). */
  readonly subcredential: Uint8Array;
}

/** The virtual hop's key material and the seed it was expanded from. */
export interface HsNtorResult {
  /** NTOR_KEY_SEED. */
  readonly keySeed: Uint8Array;
  /** Df | Db | Kf | Kb, 128 bytes (`hsV3KeysFrom`). */
  readonly keyMaterial: Uint8Array;
}

function checkLength(what: string, b: Uint8Array, n: number): void {
  if (b.length !== n) throw new UsageError(`hs-ntor: ${what} must be ${n} bytes, got ${b.length}`);
}

function checkIntroPoint(p: HsNtorIntroPoint): void {
  checkLength('AUTH_KEY', p.authKey, KEY_LEN);
  checkLength('service encryption key B', p.encKey, KEY_LEN);
  checkLength('subcredential', p.subcredential, 32);
}

/** Curve25519 that refuses a small-order point (an all-zero result), as PK_VALID asks. */
function dh(curve: Curve25519, secret: Uint8Array, pub: Uint8Array, which: string): Uint8Array {
  let out: Uint8Array;
  try {
    out = curve.sharedSecret(secret, pub);
  } catch (cause) {
    throw new HandshakeError('hs-ntor', `${which}: invalid Curve25519 point`, { cause });
  }
  if (out.every((b) => b === 0)) throw new HandshakeError('hs-ntor', `${which}: all-zero shared secret`);
  return out;
}

/** ENC_KEY | MAC_KEY = SHAKE256(EXP(B,x) | AUTH_KEY | X | B | PROTOID | t_hsenc | m_hsexpand | subcred). */
export function hsNtorIntroKeys(sharedBx: Uint8Array, p: HsNtorIntroPoint, X: Uint8Array): HsIntroKeys {
  const input = concatBytes(sharedBx, p.authKey, X, p.encKey, PROTOID, T_HSENC, M_HSEXPAND, p.subcredential);
  const keys = shake256(input, { dkLen: 2 * KEY_LEN });
  return { encKey: keys.slice(0, KEY_LEN), macKey: keys.slice(KEY_LEN) };
}

/** NTOR_KEY_SEED and AUTH_INPUT_MAC, computed identically by both sides. */
function rendTranscript(xy: Uint8Array, xb: Uint8Array, p: HsNtorIntroPoint, X: Uint8Array, Y: Uint8Array) {
  const secretInput = concatBytes(xy, xb, p.authKey, p.encKey, X, Y, PROTOID);
  const keySeed = hsMac(secretInput, T_HSENC);
  const verify = hsMac(secretInput, T_HSVERIFY);
  const auth = hsMac(concatBytes(verify, p.authKey, p.encKey, Y, X, PROTOID, SERVER), T_HSMAC);
  return { keySeed, auth };
}

/** rend-spec-v3 "Key expansion": K = SHAKE256(NTOR_KEY_SEED | m_hsexpand), 128 bytes. */
export function hsNtorExpand(keySeed: Uint8Array): Uint8Array {
  return shake256(concatBytes(keySeed, M_HSEXPAND), { dkLen: HS_V3_KEY_MATERIAL_LEN });
}

/** AES-256-CTR with a zero IV: each ENC_KEY encrypts exactly one message, so the IV can be fixed. */
function aes256Ctr(key: Uint8Array, data: Uint8Array): Uint8Array {
  return ctr(key, new Uint8Array(16)).encrypt(data);
}

/** A client that sent INTRODUCE1 and waits for RENDEZVOUS2. */
export class HsNtorClientPending {
  /** @internal use HsNtorClient.start */
  constructor(
    private readonly intro: HsNtorIntroPoint,
    private readonly x: Uint8Array,
    private readonly X: Uint8Array,
    private readonly sharedBx: Uint8Array,
    private readonly curve: Curve25519,
  ) {}

  /**
   * Check RENDEZVOUS2's HANDSHAKE_INFO (SERVER_PK Y | AUTH) and derive the virtual hop's keys.
   * Throws HandshakeError unless the answer comes from a holder of b (the service).
   */
  finish(handshakeInfo: Uint8Array): HsNtorResult {
    if (handshakeInfo.length !== HS_NTOR_HANDSHAKE_INFO_LEN) {
      throw new HandshakeError('hs-ntor', `HANDSHAKE_INFO must be ${HS_NTOR_HANDSHAKE_INFO_LEN} bytes, got ${handshakeInfo.length}`);
    }
    const Y = handshakeInfo.subarray(0, KEY_LEN);
    const auth = handshakeInfo.subarray(KEY_LEN);
    const { keySeed, auth: expected } = rendTranscript(dh(this.curve, this.x, Y, 'EXP(Y,x)'), this.sharedBx, this.intro, this.X, Y);
    if (!equalBytesConstantTime(auth, expected)) throw new HandshakeError('hs-ntor', 'RENDEZVOUS2 AUTH does not verify (not from the service, or tampered)');
    return { keySeed, keyMaterial: hsNtorExpand(keySeed) };
  }
}

export const HsNtorClient = {
  /**
   * Begin an introduction: encrypt `plaintext` (the encoded INTRODUCE1 plaintext) for the service
   * and MAC it together with `header` (the INTRODUCE1 body before ENCRYPTED). Returns ENCRYPTED
   * (CLIENT_PK X | ciphertext | MAC), so the body to send is `header | encrypted`.
   * `ephemeralSecret` is for test vectors only.
   */
  start(
    intro: HsNtorIntroPoint,
    header: Uint8Array,
    plaintext: Uint8Array,
    opts: { random?: RandomBytes; ephemeralSecret?: Uint8Array; curve?: Curve25519 } = {},
  ): { encrypted: Uint8Array; pending: HsNtorClientPending } {
    checkIntroPoint(intro);
    const curve = opts.curve ?? nobleCurve25519;
    const x = opts.ephemeralSecret ?? (opts.random ?? secureRandomBytes)(32);
    checkLength('ephemeral secret', x, 32);
    const X = curve.publicKey(x);
    const sharedBx = dh(curve, x, intro.encKey, 'EXP(B,x)');
    const keys = hsNtorIntroKeys(sharedBx, intro, X);
    const ciphertext = aes256Ctr(keys.encKey, plaintext);
    const mac = hsMac(keys.macKey, concatBytes(header, X, ciphertext));
    const copy: HsNtorIntroPoint = { authKey: intro.authKey.slice(), encKey: intro.encKey.slice(), subcredential: intro.subcredential.slice() };
    return { encrypted: concatBytes(X, ciphertext, mac), pending: new HsNtorClientPending(copy, x, X, sharedBx, curve) };
  },
};

/** The service's keys for one introduction point: its AUTH_KEY, B with b, and the subcredential. */
export interface HsNtorServiceKeys {
  readonly authKey: Uint8Array;
  readonly encKeyPair: NtorKeyPair;
  readonly subcredential: Uint8Array;
}

/** The service's answer: RENDEZVOUS1 HANDSHAKE_INFO and the virtual hop's keys. */
export interface HsNtorServiceResult extends HsNtorResult {
  readonly handshakeInfo: Uint8Array;
}

/** An INTRODUCE2 that verified and decrypted; `respond` finishes the handshake. */
export class HsNtorServicePending {
  /** @internal use HsNtorService.open */
  constructor(
    private readonly intro: HsNtorIntroPoint,
    /** CLIENT_PK X: with the rendezvous cookie, what a replay cache may key on. */
    readonly clientPublicKey: Uint8Array,
    private readonly sharedXb: Uint8Array,
    private readonly curve: Curve25519,
  ) {}

  /** Make the rendezvous half: Y | AUTH for RENDEZVOUS1 and the key material. */
  respond(opts: { random?: RandomBytes; ephemeralSecret?: Uint8Array } = {}): HsNtorServiceResult {
    const y = opts.ephemeralSecret ?? (opts.random ?? secureRandomBytes)(32);
    checkLength('ephemeral secret', y, 32);
    const Y = this.curve.publicKey(y);
    const X = this.clientPublicKey;
    const { keySeed, auth } = rendTranscript(dh(this.curve, y, X, 'EXP(X,y)'), this.sharedXb, this.intro, X, Y);
    return { handshakeInfo: concatBytes(Y, auth), keySeed, keyMaterial: hsNtorExpand(keySeed) };
  }
}

export const HsNtorService = {
  /**
   * Check and decrypt INTRODUCE2's ENCRYPTED section. `header` is the INTRODUCE2 body before it
   * (covered by the MAC). Throws HandshakeError if the MAC fails (wrong service keys, wrong time
   * period, or a tampered cell). The caller checks its replay cache with the returned plaintext's
   * cookie before calling `respond`.
   */
  open(
    keys: HsNtorServiceKeys,
    header: Uint8Array,
    encrypted: Uint8Array,
    opts: { curve?: Curve25519 } = {},
  ): { plaintext: Uint8Array; pending: HsNtorServicePending } {
    const intro: HsNtorIntroPoint = { authKey: keys.authKey, encKey: keys.encKeyPair.public, subcredential: keys.subcredential };
    checkIntroPoint(intro);
    checkLength('service encryption secret b', keys.encKeyPair.secret, 32);
    if (encrypted.length < HS_NTOR_MIN_ENCRYPTED_LEN) {
      throw new HandshakeError('hs-ntor', `ENCRYPTED must be at least ${HS_NTOR_MIN_ENCRYPTED_LEN} bytes, got ${encrypted.length}`);
    }
    const curve = opts.curve ?? nobleCurve25519;
    const X = encrypted.slice(0, KEY_LEN);
    const ciphertext = encrypted.subarray(KEY_LEN, encrypted.length - HS_NTOR_MAC_LEN);
    const mac = encrypted.subarray(encrypted.length - HS_NTOR_MAC_LEN);
    const sharedXb = dh(curve, keys.encKeyPair.secret, X, 'EXP(X,b)');
    const introKeys = hsNtorIntroKeys(sharedXb, intro, X);
    const expected = hsMac(introKeys.macKey, concatBytes(header, X, ciphertext));
    if (!equalBytesConstantTime(mac, expected)) throw new HandshakeError('hs-ntor', 'INTRODUCE2 MAC does not verify (wrong keys or tampered cell)');
    const copy: HsNtorIntroPoint = { authKey: intro.authKey.slice(), encKey: intro.encKey.slice(), subcredential: intro.subcredential.slice() };
    return {
      plaintext: aes256Ctr(introKeys.encKey, ciphertext),
      pending: new HsNtorServicePending(copy, X, sharedXb, curve),
    };
  },
};
