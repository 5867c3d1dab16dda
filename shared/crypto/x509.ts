import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CertificateError, ProtocolError } from '../util/index.ts';
import { DerReader, DerTag } from './der.ts';
import { RsaPublicKey } from './rsa.ts';

/**
 * The parts of an X.509 certificate the Tor link handshake needs: the RSA identity certificate
 * (CERTS type 2) is self-signed by the relay's RSA-1024 identity; the link certificate (type 1)
 * is the TLS certificate. Nothing else of X.509 (extensions, name matching) matters to Tor.
 */
export const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
export const OID_SHA1_WITH_RSA = '1.2.840.113549.1.1.5';
export const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11';

export interface X509Certificate {
  /** The DER of the whole certificate. */
  readonly der: Uint8Array;
  /** The DER of tbsCertificate: what the signature covers. */
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKeyAlgorithm: string;
  /** For RSA keys: the PKCS#1 RSAPublicKey DER. */
  readonly publicKey: Uint8Array;
}

/** Parse a DER X.509 certificate; malformed input gives a CertificateError naming what broke. */
export function parseX509(der: Uint8Array, what = 'X.509 certificate'): X509Certificate {
  try {
    const outer = new DerReader(der, what);
    const cert = outer.enter(DerTag.SEQUENCE, 'Certificate');
    outer.end();
    const tbsEl = cert.read(DerTag.SEQUENCE, 'tbsCertificate');
    const sigAlg = cert.enter(DerTag.SEQUENCE, 'signatureAlgorithm');
    const signatureAlgorithm = sigAlg.oid('signature algorithm');
    const signature = cert.bitStringBytes('signatureValue');
    cert.end();

    const tbs = new DerReader(tbsEl.content, 'tbsCertificate');
    if (tbs.peekTag() === DerTag.CONTEXT_0) tbs.read(DerTag.CONTEXT_0, 'version');
    tbs.read(DerTag.INTEGER, 'serialNumber');
    tbs.read(DerTag.SEQUENCE, 'signature');
    const issuer = tbs.read(DerTag.SEQUENCE, 'issuer').raw;
    const validity = tbs.enter(DerTag.SEQUENCE, 'validity');
    const notBefore = validity.time('notBefore');
    const notAfter = validity.time('notAfter');
    validity.end();
    const subject = tbs.read(DerTag.SEQUENCE, 'subject').raw;
    const spki = tbs.enter(DerTag.SEQUENCE, 'subjectPublicKeyInfo');
    const keyAlg = spki.enter(DerTag.SEQUENCE, 'algorithm');
    const publicKeyAlgorithm = keyAlg.oid('public key algorithm');
    const publicKey = spki.bitStringBytes('subjectPublicKey');
    spki.end();
    return { der, tbs: tbsEl.raw, signatureAlgorithm, signature, issuer, subject, notBefore, notAfter, publicKeyAlgorithm, publicKey };
  } catch (e) {
    if (e instanceof ProtocolError) throw new CertificateError(what, `malformed: ${e.message}`, { cause: e });
    throw e;
  }
}

/** The certificate's RSA public key. */
export function x509RsaKey(cert: X509Certificate, what = 'X.509 certificate'): RsaPublicKey {
  if (cert.publicKeyAlgorithm !== OID_RSA_ENCRYPTION) throw new CertificateError(what, `public key is not RSA (${cert.publicKeyAlgorithm})`);
  try {
    return RsaPublicKey.fromPkcs1Der(cert.publicKey);
  } catch (e) {
    if (e instanceof ProtocolError) throw new CertificateError(what, `malformed RSA key: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Whether `cert` is signed by `key` (sha256WithRSAEncryption or sha1WithRSAEncryption). */
export function x509SignedBy(cert: X509Certificate, key: RsaPublicKey): boolean {
  if (cert.signatureAlgorithm === OID_SHA256_WITH_RSA) return key.verifyPkcs1(cert.signature, 'sha256', sha256(cert.tbs));
  if (cert.signatureAlgorithm === OID_SHA1_WITH_RSA) return key.verifyPkcs1(cert.signature, 'sha1', sha1(cert.tbs));
  return false;
}

/** Whether `now` is inside the certificate's validity period. */
export function x509ValidAt(cert: X509Certificate, now: Date): boolean {
  return now.getTime() >= cert.notBefore.getTime() && now.getTime() <= cert.notAfter.getTime();
}
