import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, equalBytes, utf8, Writer } from '../../shared/bytes/index.ts';
import { UsageError } from '../../shared/util/index.ts';
import { CertExtType, Ed25519Cert, secureRandomBytes, type RandomBytes } from '../../shared/crypto/index.ts';

/**
 * Ed25519 signing from an *expanded* secret key (scalar ‖ prefix, 64 bytes), the form tor keeps on
 * disk (keys/ed25519_*_secret_key) and the only form a curve25519 onion key can be turned into.
 *
 *   - `Ed25519Signer.generate()` / `fromSeed(seed)`: an ordinary key: SHA-512(seed), scalar clamped
 *     (RFC 8032 §5.1.5); signatures equal those of any standard Ed25519 implementation.
 *   - `Ed25519Signer.fromExpanded(64 bytes)`: load a key as tor stores it.
 *   - `ed25519FromCurve25519(secret)`: the Ed25519 key with the same secret scalar as an ntor onion
 *     key, and the sign bit of its public point (dir-spec appendix C), used to sign the
 *     "ntor-onion-key-crosscert" (type 0x0A) that proves the relay holds its onion key.
 *   - `issueEd25519Cert(fields, signer)`: a tor Ed25519 certificate (cert-spec §2.1) signed with one.
 *
 * Signing is RFC 8032 §5.1.6 over the expanded key: r = H(prefix ‖ M), R = rB,
 * S = r + H(R ‖ A ‖ M)·a mod L.
 */

const L = ed25519.Point.Fn.ORDER;
const CURVE25519_TO_ED25519_PREFIX = utf8('Derive high part of ed25519 key from curve25519 key\0');

function leToBigint(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

function bigintToLe32(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let x = v;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** Curve25519/Ed25519 scalar clamping (RFC 7748 §5): what x25519 does to every secret it is given. */
export function clampScalar(secret: Uint8Array): Uint8Array {
  if (secret.length !== 32) throw new UsageError(`a curve25519 scalar is 32 bytes, got ${secret.length}`);
  const s = secret.slice();
  s[0]! &= 248;
  s[31]! &= 127;
  s[31]! |= 64;
  return s;
}

export class Ed25519Signer {
  /** The public key A (32 bytes). */
  readonly publicKey: Uint8Array;
  private readonly scalar: bigint;

  private constructor(private readonly expandedKey: Uint8Array) {
    // Reducing mod L changes neither A = aB (B has order L) nor S.
    this.scalar = leToBigint(expandedKey.subarray(0, 32)) % L;
    if (this.scalar === 0n) throw new UsageError('Ed25519 secret scalar is zero mod L');
    this.publicKey = ed25519.Point.BASE.multiply(this.scalar).toBytes();
  }

  static generate(random: RandomBytes = secureRandomBytes): Ed25519Signer {
    return Ed25519Signer.fromSeed(random(32));
  }

  /** The key an RFC 8032 implementation derives from a 32-byte seed. */
  static fromSeed(seed: Uint8Array): Ed25519Signer {
    if (seed.length !== 32) throw new UsageError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
    const h = sha512(seed);
    return new Ed25519Signer(concatBytes(clampScalar(h.subarray(0, 32)), h.subarray(32, 64)));
  }

  /** A key stored as scalar ‖ prefix (tor's "ed25519v1-secret" files). */
  static fromExpanded(expanded: Uint8Array): Ed25519Signer {
    if (expanded.length !== 64) throw new UsageError(`an expanded Ed25519 secret key is 64 bytes, got ${expanded.length}`);
    return new Ed25519Signer(expanded.slice());
  }

  /** The expanded secret key (scalar ‖ prefix): what to store. */
  get expanded(): Uint8Array {
    return this.expandedKey.slice();
  }

  sign(message: Uint8Array): Uint8Array {
    const prefix = this.expandedKey.subarray(32, 64);
    const r = leToBigint(sha512(concatBytes(prefix, message))) % L;
    // r = 0 has probability 2^-252; the base-point multiply refuses it rather than sign wrongly.
    const R = ed25519.Point.BASE.multiply(r).toBytes();
    const k = leToBigint(sha512(concatBytes(R, this.publicKey, message))) % L;
    const S = (r + k * this.scalar) % L;
    return concatBytes(R, bigintToLe32(S));
  }
}

/**
 * The Ed25519 key that shares its secret scalar with a curve25519 (ntor onion) key, as tor derives
 * it: scalar = the clamped curve25519 secret, prefix = SHA-512(scalar ‖ "Derive high part of ed25519
 * key from curve25519 key\0")[0..32]. `signBit` is the sign of the public point's x-coordinate
 * (top bit of its last byte): the curve25519 public key does not carry it, so the descriptor
 * publishes it next to the cross-certificate.
 */
export function ed25519FromCurve25519(curve25519Secret: Uint8Array): { signer: Ed25519Signer; signBit: 0 | 1 } {
  const scalar = clampScalar(curve25519Secret);
  const prefix = sha512(concatBytes(scalar, CURVE25519_TO_ED25519_PREFIX)).subarray(0, 32);
  const signer = Ed25519Signer.fromExpanded(concatBytes(scalar, prefix));
  return { signer, signBit: (signer.publicKey[31]! >> 7) as 0 | 1 };
}

/**
 * A verifier's side of the same conversion (dir-spec appendix C): the Ed25519 public key for a
 * curve25519 public key u and a sign bit. y = (u − 1)/(u + 1) mod p, encoded with the sign bit on
 * top. Returns undefined for u = −1, which has no Edwards point.
 */
export function ed25519PublicFromCurve25519(curve25519Public: Uint8Array, signBit: 0 | 1): Uint8Array | undefined {
  if (curve25519Public.length !== 32) throw new UsageError(`a curve25519 public key is 32 bytes, got ${curve25519Public.length}`);
  const Fp = ed25519.Point.Fp;
  // RFC 7748: the top bit of u is ignored.
  const uBytes = curve25519Public.slice();
  uBytes[31]! &= 0x7f;
  const u = Fp.create(leToBigint(uBytes));
  const denominator = Fp.add(u, Fp.ONE);
  if (Fp.is0(denominator)) return undefined;
  const y = Fp.div(Fp.sub(u, Fp.ONE), denominator);
  const out = bigintToLe32(y);
  out[31]! |= signBit << 7;
  return out;
}

/** Whether `signer` is the Ed25519 form of the curve25519 key pair (secret, public). */
export function matchesCurve25519(signer: Ed25519Signer, curve25519Public: Uint8Array): boolean {
  return equalBytes(ed25519.utils.toMontgomery(signer.publicKey), curve25519Public);
}

/** The fields of a certificate to issue (cert-spec §2.1); the expiration is given as a Date. */
export interface Ed25519CertToIssue {
  readonly certType: number;
  readonly certKeyType: number;
  readonly certifiedKey: Uint8Array;
  /** Rounded up to the next whole hour, the unit of the certificate's EXPIRATION_DATE. */
  readonly expires: Date;
  /** Put the signer's public key in a signed-with-ed25519-key extension (cert-spec §2.2.1). */
  readonly includeSignerKey?: boolean;
}

/** Hours since the epoch, rounded up: a certificate never expires before the time asked for. */
export function expirationHours(expires: Date): number {
  const h = Math.ceil(expires.getTime() / 3_600_000);
  if (!Number.isFinite(h) || h < 0 || h > 0xffffffff) throw new UsageError(`certificate expiry ${expires.getTime()} ms cannot be encoded in hours since the epoch`);
  return h;
}

/**
 * Issue a tor Ed25519 certificate signed by `signer` (the shared core's signEd25519Cert takes a seed;
 * relay keys are expanded keys). Returns the certificate as the core decodes it, so the result is
 * known to parse.
 */
export function issueEd25519Cert(c: Ed25519CertToIssue, signer: Ed25519Signer): Ed25519Cert {
  if (c.certifiedKey.length !== 32) throw new UsageError('certified key must be 32 bytes');
  const w = new Writer(140).u8(1).u8(c.certType).u32(expirationHours(c.expires)).u8(c.certKeyType).bytes(c.certifiedKey);
  if (c.includeSignerKey) w.u8(1).u16(32).u8(CertExtType.SIGNED_WITH_ED25519_KEY).u8(0).bytes(signer.publicKey);
  else w.u8(0);
  const signed = w.finish();
  return Ed25519Cert.decode(concatBytes(signed, signer.sign(signed)));
}
