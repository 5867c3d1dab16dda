import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { concatBytes, utf8 } from '../bytes/index.ts';
import { ProtocolError, UsageError } from '../util/index.ts';

/**
 * Onion-service v3 key math (rend-spec-v3 [KEYBLIND], [SUBCRED]; tor's "ed25519 extensions"):
 * per-period blinding of the service identity key, signing with expanded secret keys (the only
 * form a blinded secret key exists in), the (sub)credential, and the Edwards ↔ Montgomery map.
 *
 * An "expanded secret key" is 64 bytes: a 32-byte little-endian scalar `a` followed by the
 * 32-byte nonce prefix `RH`, as tor stores them. Scalars here are not secret-independent in
 * their timing (BigInt arithmetic); the public-key side (a client) handles no secrets at all.
 */

const Point = ed25519.Point;
/** Order of the prime subgroup. */
const L = Point.Fn.ORDER;
/** The field prime 2^255 - 19. */
const P = Point.Fp.ORDER;

/** Prefix of the blinding hash; tor hashes the C string with its terminating NUL. */
const BLIND_STRING = concatBytes(utf8('Derive temporary signing key'), Uint8Array.of(0));
/** tor's textual ed25519 base point, hashed verbatim into the blinding factor. */
const BASEPOINT_STRING = utf8(
  '(15112221349535400772501151409588531511454012693041857206046113283949847762202, ' +
    '46316835694926478169428394003475163141307993866256225615783033603165251855960)',
);
const KEYBLIND_NONCE = utf8('key-blind');
const BLINDED_PREFIX_STRING = utf8('Derive temporary signing key hash input');
const CREDENTIAL = utf8('credential');
const SUBCREDENTIAL = utf8('subcredential');

function checkLength(what: string, bytes: Uint8Array, len: number): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== len) {
    throw new UsageError(`${what} must be ${len} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`);
  }
}

function numberLE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function bytesLE(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

/** INT_8 of rend-spec: an 8-byte big-endian unsigned integer. */
export function int8(n: number | bigint): Uint8Array {
  const v = typeof n === 'bigint' ? n : Number.isSafeInteger(n) ? BigInt(n) : -1n;
  if (v < 0n || v >= 1n << 64n) throw new UsageError(`INT_8 needs an unsigned 64-bit integer, got ${String(n)}`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v);
  return out;
}

/** The ed25519 clamp: clear the low 3 bits (cofactor) and fix bits 255..254 to 01. */
function clamp(bytes32: Uint8Array): bigint {
  const c = Uint8Array.from(bytes32);
  c[0]! &= 248;
  c[31]! &= 63;
  c[31]! |= 64;
  return numberLE(c);
}

/**
 * Decode an ed25519 public key, rejecting what tor's ed25519_validate_pubkey rejects: encodings
 * that are not points and points outside the prime-order subgroup (a torsion component would let
 * several keys, hence several onion addresses, name one service).
 */
function decodePublicKey(what: string, publicKey: Uint8Array): InstanceType<typeof Point> {
  checkLength(what, publicKey, 32);
  let point;
  try {
    point = Point.fromBytes(publicKey);
  } catch (e) {
    throw new ProtocolError(what, 'not a valid ed25519 point', undefined, { cause: e });
  }
  if (point.is0() || !point.isTorsionFree()) throw new ProtocolError(what, 'ed25519 key is not in the prime-order subgroup');
  return point;
}

/** Multiply by a scalar that may be ≥ l or 0 (noble's multiply wants 0 < k < l). */
function mul(point: InstanceType<typeof Point>, scalar: bigint): InstanceType<typeof Point> {
  const k = mod(scalar, L);
  return k === 0n ? Point.ZERO : point.multiply(k);
}

/** Secret seed (32 bytes) → expanded secret key: SHA-512(seed) with the scalar half clamped. */
export function expandSecretKey(seed: Uint8Array): Uint8Array {
  checkLength('ed25519 secret seed', seed, 32);
  const h = sha512(seed);
  return concatBytes(bytesLE(clamp(h.subarray(0, 32)), 32), h.subarray(32, 64));
}

/** Public key A = a·B of an expanded secret key. */
export function publicKeyFromExpanded(expandedSecretKey: Uint8Array): Uint8Array {
  checkLength('ed25519 expanded secret key', expandedSecretKey, 64);
  return mul(Point.BASE, numberLE(expandedSecretKey.subarray(0, 32))).toBytes();
}

/**
 * Ed25519 signature made from an expanded secret key (RFC 8032 §5.1.6 after the seed hashing
 * step). A blinded key has no seed, so this is the only way a service can sign with one; the
 * result verifies with standard ed25519 against the matching public key.
 */
export function signWithExpandedKey(message: Uint8Array, expandedSecretKey: Uint8Array, publicKey?: Uint8Array): Uint8Array {
  checkLength('ed25519 expanded secret key', expandedSecretKey, 64);
  const a = mod(numberLE(expandedSecretKey.subarray(0, 32)), L);
  const pub = publicKey ?? publicKeyFromExpanded(expandedSecretKey);
  checkLength('ed25519 public key', pub, 32);
  const r = mod(numberLE(sha512(concatBytes(expandedSecretKey.subarray(32, 64), message))), L);
  const R = mul(Point.BASE, r).toBytes();
  const k = mod(numberLE(sha512(concatBytes(R, pub, message))), L);
  return concatBytes(R, bytesLE(mod(r + k * a, L), 32));
}

/**
 * The blinding factor before clamping (rend-spec-v3 [KEYBLIND]):
 *   h = SHA3-256(BLIND_STRING | A | s | B | N),  N = "key-blind" | INT_8(period_num) | INT_8(period_length)
 * `secret` is the optional s (empty for every public service today).
 */
export function blindingParam(identityKey: Uint8Array, periodNum: number, periodLengthMinutes: number, secret: Uint8Array = new Uint8Array(0)): Uint8Array {
  checkLength('onion service identity key', identityKey, 32);
  return sha3_256(
    concatBytes(BLIND_STRING, identityKey, secret, BASEPOINT_STRING, KEYBLIND_NONCE, int8(periodNum), int8(periodLengthMinutes)),
  );
}

/** A' = clamp(param)·A. `param` is a raw 32-byte blinding parameter (see {@link blindingParam}). */
export function blindPublicKeyWithParam(publicKey: Uint8Array, param: Uint8Array): Uint8Array {
  checkLength('blinding parameter', param, 32);
  const A = decodePublicKey('ed25519 public key to blind', publicKey);
  return mul(A, clamp(param)).toBytes();
}

/**
 * The expanded secret key matching {@link blindPublicKeyWithParam}: a' = clamp(param)·a mod l, and
 * RH' = SHA-512("Derive temporary signing key hash input" | RH)[:32] so that blinded signatures
 * use nonces unrelated to the identity key's.
 */
export function blindExpandedSecretKeyWithParam(expandedSecretKey: Uint8Array, param: Uint8Array): Uint8Array {
  checkLength('ed25519 expanded secret key', expandedSecretKey, 64);
  checkLength('blinding parameter', param, 32);
  const a = numberLE(expandedSecretKey.subarray(0, 32));
  const aPrime = mod(clamp(param) * a, L);
  const rhPrime = sha512(concatBytes(BLINDED_PREFIX_STRING, expandedSecretKey.subarray(32, 64))).subarray(0, 32);
  return concatBytes(bytesLE(aPrime, 32), rhPrime);
}

/** The service's blinded public key for one time period (what a client looks descriptors up by). */
export function blindPublicKey(identityKey: Uint8Array, periodNum: number, periodLengthMinutes: number, secret?: Uint8Array): Uint8Array {
  return blindPublicKeyWithParam(identityKey, blindingParam(identityKey, periodNum, periodLengthMinutes, secret));
}

export interface BlindedKeypair {
  readonly publicKey: Uint8Array;
  readonly expandedSecretKey: Uint8Array;
}

/** The service's blinded keypair for one time period, from its expanded identity secret key. */
export function blindKeypair(identityExpandedSecretKey: Uint8Array, periodNum: number, periodLengthMinutes: number, secret?: Uint8Array): BlindedKeypair {
  const identityKey = publicKeyFromExpanded(identityExpandedSecretKey);
  const param = blindingParam(identityKey, periodNum, periodLengthMinutes, secret);
  const expandedSecretKey = blindExpandedSecretKeyWithParam(identityExpandedSecretKey, param);
  return { publicKey: publicKeyFromExpanded(expandedSecretKey), expandedSecretKey };
}

/** credential = SHA3-256("credential" | A). */
export function credential(identityKey: Uint8Array): Uint8Array {
  checkLength('onion service identity key', identityKey, 32);
  return sha3_256(concatBytes(CREDENTIAL, identityKey));
}

/** subcredential = SHA3-256("subcredential" | credential | A'): binds descriptor keys to one period. */
export function subcredential(identityKey: Uint8Array, blindedKey: Uint8Array): Uint8Array {
  checkLength('blinded key', blindedKey, 32);
  return sha3_256(concatBytes(SUBCREDENTIAL, credential(identityKey), blindedKey));
}

/** Edwards → Montgomery: u = (1 + y) / (1 - y), the curve25519 key of the same secret. */
export function ed25519ToCurve25519(publicKey: Uint8Array): Uint8Array {
  checkLength('ed25519 public key', publicKey, 32);
  let point;
  try {
    point = Point.fromBytes(publicKey);
  } catch (e) {
    throw new ProtocolError('ed25519 public key', 'not a valid ed25519 point', undefined, { cause: e });
  }
  const { y } = point.toAffine();
  if (y === 1n) throw new ProtocolError('ed25519 public key', 'the identity point has no curve25519 form');
  const Fp = Point.Fp;
  return bytesLE(Fp.mul(Fp.add(1n, y), Fp.inv(Fp.sub(1n, y))), 32);
}

/**
 * Montgomery → Edwards: y = (u - 1) / (u + 1). A curve25519 key fixes only y, so the caller gives
 * the sign of x (bit 255 of the ed25519 encoding; tor carries it beside cross-certified keys).
 */
export function curve25519ToEd25519(curveKey: Uint8Array, signBit: 0 | 1): Uint8Array {
  checkLength('curve25519 public key', curveKey, 32);
  // RFC 7748: ignore bit 255 of u and take it mod p.
  const u = mod(numberLE(curveKey) & ((1n << 255n) - 1n), P);
  if (u === P - 1n) throw new ProtocolError('curve25519 public key', 'u = -1 has no ed25519 form');
  const Fp = Point.Fp;
  const y = Fp.mul(Fp.sub(u, 1n), Fp.inv(Fp.add(u, 1n)));
  const encoded = bytesLE(y, 32);
  encoded[31]! |= signBit << 7;
  try {
    return Point.fromBytes(encoded).toBytes();
  } catch (e) {
    throw new ProtocolError('curve25519 public key', 'no ed25519 point with this u and sign', undefined, { cause: e });
  }
}
