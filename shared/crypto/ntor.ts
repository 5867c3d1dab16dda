import { x25519 } from '@noble/curves/ed25519.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { HandshakeError, UsageError } from '../util/index.ts';
import { concatBytes, equalBytes, equalBytesConstantTime, utf8 } from '../bytes/index.ts';
import { hkdfSha256 } from './kdf.ts';
import { TOR1_HOP_KEY_MATERIAL_LEN, TOR1_KEY_MATERIAL_LEN, tor1HopKeyMaterial } from './circuit-keys.ts';
import type { ClientHandshake, ServerHandshake } from './handshake.ts';

/**
 * The ntor handshake (tor-spec "The ntor handshake", proposal 216): Curve25519 Diffie-Hellman
 * with the relay's onion key B and identity ID bound into the transcript, so the client learns it
 * is talking to the relay it chose. Used in CREATE2/EXTEND2 with handshake type 2.
 *
 * The client side is a type-state: `NtorClient.start` gives the onionskin and a pending state whose
 * only move is `finish(reply)`, which either proves the relay and yields key material or throws.
 */

export const NTOR_HANDSHAKE_TYPE = 0x0002;
const PROTOID = utf8('ntor-curve25519-sha256-1');
const T_MAC = utf8('ntor-curve25519-sha256-1:mac');
const T_KEY = utf8('ntor-curve25519-sha256-1:key_extract');
const T_VERIFY = utf8('ntor-curve25519-sha256-1:verify');
const M_EXPAND = utf8('ntor-curve25519-sha256-1:key_expand');
const SERVER = utf8('Server');

export const NTOR_ONIONSKIN_LEN = 20 + 32 + 32;
export const NTOR_REPLY_LEN = 32 + 32;

/** A relay's ntor onion key pair. */
export interface NtorKeyPair {
  readonly secret: Uint8Array;
  readonly public: Uint8Array;
}

export type RandomBytes = (n: number) => Uint8Array;

/** Randomness from WebCrypto, available in service workers, pages and Node alike. */
export const secureRandomBytes: RandomBytes = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n));

/**
 * Curve25519 as the handshake uses it, so a host can bring a faster engine (a relay in Node uses
 * node:crypto, which is much faster than pure JavaScript for the many handshakes a relay answers).
 */
export interface Curve25519 {
  publicKey(secret: Uint8Array): Uint8Array;
  sharedSecret(secret: Uint8Array, publicKey: Uint8Array): Uint8Array;
}

export const nobleCurve25519: Curve25519 = {
  publicKey: (secret) => x25519.getPublicKey(secret),
  sharedSecret: (secret, pub) => x25519.getSharedSecret(secret, pub),
};

/** A fresh Curve25519 key pair (clamping happens inside x25519). */
export function generateNtorKeyPair(random: RandomBytes = secureRandomBytes): NtorKeyPair {
  const secret = random(32);
  return { secret, public: x25519.getPublicKey(secret) };
}

function H(message: Uint8Array, tweak: Uint8Array): Uint8Array {
  return hmac(sha256, tweak, message);
}

/** Curve25519 scalar multiplication that refuses an all-zero result (a small-order point). */
function dh(secret: Uint8Array, pub: Uint8Array, which: string, curve: Curve25519 = nobleCurve25519): Uint8Array {
  let out: Uint8Array;
  try {
    out = curve.sharedSecret(secret, pub);
  } catch (cause) {
    throw new HandshakeError('ntor', `${which}: invalid Curve25519 point`, { cause });
  }
  if (out.every((b) => b === 0)) throw new HandshakeError('ntor', `${which}: all-zero shared secret`);
  return out;
}

/** secret_input, the verify value and AUTH, computed identically by both sides. */
function transcript(xy: Uint8Array, xb: Uint8Array, id: Uint8Array, B: Uint8Array, X: Uint8Array, Y: Uint8Array) {
  const secretInput = concatBytes(xy, xb, id, B, X, Y, PROTOID);
  const verify = H(secretInput, T_VERIFY);
  const auth = H(concatBytes(verify, id, B, Y, X, PROTOID, SERVER), T_MAC);
  return { secretInput, auth };
}

function expand(secretInput: Uint8Array, length: number): Uint8Array {
  return hkdfSha256(secretInput, T_KEY, M_EXPAND, length);
}

function checkLength(what: string, b: Uint8Array, n: number): void {
  if (b.length !== n) throw new UsageError(`ntor: ${what} must be ${n} bytes, got ${b.length}`);
}

/** A client that sent its onionskin and waits for the relay's reply. */
export class NtorClientPending {
  /** @internal use NtorClient.start */
  constructor(
    private readonly relayId: Uint8Array,
    private readonly relayB: Uint8Array,
    private readonly x: Uint8Array,
    private readonly X: Uint8Array,
  ) {}

  /**
   * Check the relay's reply (Y | AUTH) and derive `keyLength` bytes of key material
   * (72 for tor1: Df | Db | Kf | Kb). Throws HandshakeError if the relay could not prove it holds B.
   */
  finish(reply: Uint8Array, keyLength = TOR1_KEY_MATERIAL_LEN): Uint8Array {
    if (reply.length !== NTOR_REPLY_LEN) {
      throw new HandshakeError('ntor', `reply must be ${NTOR_REPLY_LEN} bytes, got ${reply.length}`);
    }
    const Y = reply.subarray(0, 32);
    const auth = reply.subarray(32, 64);
    const { secretInput, auth: expected } = transcript(dh(this.x, Y, 'EXP(Y,x)'), dh(this.x, this.relayB, 'EXP(B,x)'), this.relayId, this.relayB, this.X, Y);
    if (!equalBytesConstantTime(auth, expected)) throw new HandshakeError('ntor', 'relay AUTH does not verify (wrong onion key or tampered reply)');
    return expand(secretInput, keyLength);
  }
}

export const NtorClient = {
  /**
   * Begin a handshake with the relay whose RSA identity digest is `relayId` (20 bytes) and whose
   * ntor onion key is `relayB`. `ephemeralSecret` is for test vectors only.
   */
  start(relayId: Uint8Array, relayB: Uint8Array, opts: { random?: RandomBytes; ephemeralSecret?: Uint8Array } = {}): { onionskin: Uint8Array; pending: NtorClientPending } {
    checkLength('relay identity', relayId, 20);
    checkLength('relay onion key', relayB, 32);
    const x = opts.ephemeralSecret ?? (opts.random ?? secureRandomBytes)(32);
    checkLength('ephemeral secret', x, 32);
    const X = x25519.getPublicKey(x);
    return { onionskin: concatBytes(relayId, relayB, X), pending: new NtorClientPending(relayId.slice(), relayB.slice(), x, X) };
  },
};

export interface NtorServerResult {
  /** CREATED2 handshake data: Y | AUTH. */
  readonly reply: Uint8Array;
  readonly keyMaterial: Uint8Array;
  /** Which onion key the client used (a relay keeps its previous key for a grace period). */
  readonly onionKey: NtorKeyPair;
}

/**
 * The relay side: answer an onionskin addressed to this relay. `onionKeys` holds the current and
 * any still-accepted previous onion keys; the onionskin's B picks one.
 */
export function ntorServerHandshake(
  onionskin: Uint8Array,
  relay: { identity: Uint8Array; onionKeys: readonly NtorKeyPair[] },
  opts: { random?: RandomBytes; ephemeralSecret?: Uint8Array; keyLength?: number; curve?: Curve25519 } = {},
): NtorServerResult {
  if (onionskin.length < NTOR_ONIONSKIN_LEN) {
    throw new HandshakeError('ntor', `onionskin must be ${NTOR_ONIONSKIN_LEN} bytes, got ${onionskin.length}`);
  }
  const id = onionskin.subarray(0, 20);
  const B = onionskin.subarray(20, 52);
  const X = onionskin.subarray(52, 84);
  if (!equalBytes(id, relay.identity)) throw new HandshakeError('ntor', 'onionskin is addressed to another relay identity');
  const onionKey = relay.onionKeys.find((k) => equalBytes(k.public, B));
  if (!onionKey) throw new HandshakeError('ntor', 'onionskin names an onion key this relay does not hold');
  const y = opts.ephemeralSecret ?? (opts.random ?? secureRandomBytes)(32);
  const curve = opts.curve ?? nobleCurve25519;
  const Y = curve.publicKey(y);
  const { secretInput, auth } = transcript(dh(y, X, 'EXP(X,y)', curve), dh(onionKey.secret, X, 'EXP(X,b)', curve), id, B, X, Y);
  return { reply: concatBytes(Y, auth), keyMaterial: expand(secretInput, opts.keyLength ?? TOR1_KEY_MATERIAL_LEN), onionKey };
}

/** ntor as a circuit handshake, client side: tor1 keys and KH for the hop. */
export const ntorClientSide: ClientHandshake = {
  handshakeType: NTOR_HANDSHAKE_TYPE,
  name: 'ntor',
  carrier: 'create2',
  start(target, opts = {}) {
    const { onionskin, pending } = NtorClient.start(target.rsaIdentity, target.ntorOnionKey, opts);
    return { handshakeType: NTOR_HANDSHAKE_TYPE, onionskin, finish: (reply) => tor1HopKeyMaterial(pending.finish(reply, TOR1_HOP_KEY_MATERIAL_LEN)) };
  },
};

/** ntor as a circuit handshake, relay side. */
export const ntorServerSide: ServerHandshake = {
  handshakeType: NTOR_HANDSHAKE_TYPE,
  name: 'ntor',
  carrier: 'create2',
  respond(onionskin, relay, opts = {}) {
    const r = ntorServerHandshake(onionskin, relay, { ...opts, curve: relay.curve, keyLength: TOR1_HOP_KEY_MATERIAL_LEN });
    return { reply: r.reply, keys: tor1HopKeyMaterial(r.keyMaterial) };
  },
};
