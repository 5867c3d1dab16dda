import { sha1 } from '@noble/hashes/legacy.js';
import { concatBytes, equalBytesConstantTime, fromHex, toHex } from '../bytes/index.ts';
import { CertificateError, ProtocolError } from '../util/index.ts';
import { DerReader, DerTag } from './der.ts';
import { derInteger, derSequence } from './der-writer.ts';

/**
 * RSA public keys as Tor uses them: relay identities are RSA-1024 keys, named by the SHA-1 of their
 * PKCS#1 DER encoding (the "fingerprint"). Only verification is needed in the core, done with
 * BigInt (the exponent is 65537, so this is 17 modular multiplications).
 */
export class RsaPublicKey {
  private constructor(readonly modulus: bigint, readonly exponent: bigint, readonly der: Uint8Array) {}

  /** Parse a PKCS#1 RSAPublicKey (SEQUENCE { modulus INTEGER, publicExponent INTEGER }). */
  static fromPkcs1Der(der: Uint8Array): RsaPublicKey {
    const outer = new DerReader(der, 'RSA public key');
    const seq = outer.enter(DerTag.SEQUENCE, 'RSAPublicKey');
    outer.end();
    const n = seq.unsignedInteger('modulus');
    const e = seq.unsignedInteger('public exponent');
    seq.end();
    if (n < 3n || e < 3n) throw new ProtocolError('RSA public key', 'modulus or exponent too small');
    return new RsaPublicKey(n, e, der.slice());
  }

  /** Modulus size in bits. */
  get bits(): number {
    return this.modulus.toString(2).length;
  }

  /** Bytes in the modulus (the length of signatures). */
  get byteLength(): number {
    return Math.ceil(this.bits / 8);
  }

  /** The 20-byte identity digest: SHA-1 of the PKCS#1 DER. */
  identityDigest(): Uint8Array {
    return sha1(this.der);
  }

  /** The fingerprint as Tor prints it: 40 upper-case hex digits. */
  fingerprint(): string {
    return toHex(this.identityDigest()).toUpperCase();
  }

  /** s^e mod n as k bytes, or undefined if the signature is not a valid representative. */
  private open(signature: Uint8Array): Uint8Array | undefined {
    const k = this.byteLength;
    if (signature.length !== k) return undefined;
    let s = 0n;
    for (const b of signature) s = (s << 8n) | BigInt(b);
    if (s >= this.modulus) return undefined;
    let m = modPow(s, this.exponent, this.modulus);
    const out = new Uint8Array(k);
    for (let i = k - 1; i >= 0; i--) {
      out[i] = Number(m & 0xffn);
      m >>= 8n;
    }
    return out;
  }

  /**
   * The payload T of a PKCS#1 v1.5 type-1 signature (00 01 FF…FF 00 T, at least 8 FF bytes), or
   * undefined if the padding is wrong.
   */
  recoverPayload(signature: Uint8Array): Uint8Array | undefined {
    const em = this.open(signature);
    if (!em || em[0] !== 0 || em[1] !== 1) return undefined;
    let i = 2;
    while (i < em.length && em[i] === 0xff) i++;
    if (i - 2 < 8 || i >= em.length || em[i] !== 0) return undefined;
    return em.subarray(i + 1);
  }

  /**
   * Tor's directory and cross-certificate signatures: PKCS#1 v1.5 padding around the bare digest,
   * without the DigestInfo that standard PKCS#1 signatures carry (dir-spec "signature" items).
   */
  verifyRawDigest(signature: Uint8Array, digest: Uint8Array): boolean {
    const t = this.recoverPayload(signature);
    return t !== undefined && equalBytesConstantTime(t, digest);
  }

  /** Standard RSASSA-PKCS1-v1_5 (with DigestInfo), as X.509 certificate signatures use. */
  verifyPkcs1(signature: Uint8Array, hash: 'sha1' | 'sha256', digest: Uint8Array): boolean {
    const t = this.recoverPayload(signature);
    return t !== undefined && equalBytesConstantTime(t, concatBytes(DIGEST_INFO_PREFIX[hash], digest));
  }

  /** Encode a key as PKCS#1 DER (for keys generated or received as numbers). */
  static fromComponents(modulus: bigint, exponent: bigint): RsaPublicKey {
    return RsaPublicKey.fromPkcs1Der(derSequence(derInteger(modulus), derInteger(exponent)));
  }
}

/** DER-encoded DigestInfo prefixes (RFC 8017 §9.2 note 1). */
const DIGEST_INFO_PREFIX = {
  sha1: fromHex('3021300906052b0e03021a05000414'),
  sha256: fromHex('3031300d060960864801650304020105000420'),
} as const;

/** base^exp mod m by square-and-multiply (public-key operations only: not constant time). */
export function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return result;
}

/** Tor relays' identity keys must be exactly this size with this exponent (tor-spec "Relay keys"). */
export function checkRelayIdentityKey(key: RsaPublicKey): void {
  if (key.bits !== 1024) throw new CertificateError('RSA identity key', `must be 1024 bits, is ${key.bits}`);
  if (key.exponent !== 65537n) throw new CertificateError('RSA identity key', `exponent must be 65537, is ${key.exponent}`);
}
