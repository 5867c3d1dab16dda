import { sha256 } from '@noble/hashes/sha2.js';
import { Reader, concatBytes, utf8 } from '../bytes/index.ts';
import { CertificateError } from '../util/index.ts';
import type { RsaPublicKey } from './rsa.ts';

/**
 * The RSA→Ed25519 cross-certificate (cert-spec "RSA→Ed25519 cross-certificate", CERTS type 7): the
 * relay's RSA identity vouches for its Ed25519 identity, so that the two identities are bound.
 *   ED25519_KEY 32 | EXPIRATION_DATE u32 (hours) | SIGLEN u8 | SIGNATURE
 * SIGNATURE is PKCS#1 v1.5 without DigestInfo over SHA256(PREFIX | ED25519_KEY | EXPIRATION_DATE).
 */
const PREFIX = utf8('Tor TLS RSA/Ed25519 cross-certificate');

export class RsaCrossCert {
  private constructor(readonly ed25519Key: Uint8Array, readonly expirationHours: number, readonly signature: Uint8Array, private readonly signed: Uint8Array) {}

  static decode(bytes: Uint8Array): RsaCrossCert {
    const r = new Reader(bytes, 'RSA→Ed25519 cross-certificate');
    const key = r.bytesN(32, 'Ed25519 key').slice();
    const exp = r.u32('expiration');
    const signed = bytes.slice(0, r.consumed);
    const sig = r.lenU8('signature').slice();
    r.shouldBeExhausted();
    return new RsaCrossCert(key, exp, sig, signed);
  }

  get expires(): Date {
    return new Date(this.expirationHours * 3600 * 1000);
  }

  /** Check the signature by `rsaIdentity` and the expiry; returns the certified Ed25519 identity. */
  verify(rsaIdentity: RsaPublicKey, now: Date): Uint8Array {
    const digest = sha256(concatBytes(PREFIX, this.signed));
    if (!rsaIdentity.verifyRawDigest(this.signature, digest)) throw new CertificateError('RSA→Ed25519 cross-certificate', 'signature by the RSA identity does not verify');
    if (now.getTime() > this.expires.getTime()) throw new CertificateError('RSA→Ed25519 cross-certificate', `expired at ${this.expires.toISOString()}`, { kind: 'certificate-expired', validUntil: this.expires, now });
    return this.ed25519Key;
  }
}
