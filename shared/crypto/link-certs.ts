import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, equalBytesConstantTime, toHex } from '../bytes/index.ts';
import { CertificateError, ProtocolError } from '../util/index.ts';
import { CertType, type CertsCell } from '../cells/index.ts';
import { CertKeyType, UnverifiedEd25519Cert } from './ed25519-cert.ts';
import { RsaCrossCert } from './rsa-crosscert.ts';
import { checkRelayIdentityKey, type RsaPublicKey } from './rsa.ts';
import { parseX509, x509RsaKey, x509SignedBy, x509ValidAt } from './x509.ts';

/**
 * The check an initiator makes of a responder's CERTS cell (tor-spec "Validating a responder's
 * CERTS", Ed25519 case): exactly one each of types 2, 4, 5 and 7; the RSA-1024 identity
 * certificate self-signed and current; the cross-certificate binding the Ed25519 identity to it;
 * identity → signing key (type 4) and signing key → TLS certificate digest (type 5) verified and
 * unexpired; and the TLS certificate digest equal to the one actually used on the connection,
 * when the transport can tell (a browser's WebSocket cannot: then `tlsCertChecked` is false, and
 * the circuit handshake (ntor, bound to the identity) is what authenticates the relay).
 */

export interface ExpectedRelayIdentity {
  /** 20-byte RSA identity digest. */
  readonly rsaIdentity?: Uint8Array;
  /** 32-byte Ed25519 identity. */
  readonly ed25519Identity?: Uint8Array;
}

export interface VerifiedResponderIdentity {
  readonly rsaIdentity: Uint8Array;
  /** Upper-case hex fingerprint of the RSA identity. */
  readonly fingerprint: string;
  readonly rsaKey: RsaPublicKey;
  readonly ed25519Identity: Uint8Array;
  readonly signingKey: Uint8Array;
  /** SHA-256 of the TLS certificate, as certified by the type-5 certificate. */
  readonly tlsCertDigest: Uint8Array;
  /** Whether that digest was compared with the TLS certificate of this connection. */
  readonly tlsCertChecked: boolean;
  /** The earliest expiry among the certificates: re-handshake before then. */
  readonly expires: Date;
}

export interface ResponderCertsInput {
  readonly certs: CertsCell;
  readonly now: Date;
  readonly expected?: ExpectedRelayIdentity;
  /** DER of the TLS certificate the peer presented, when the transport exposes it. */
  readonly peerTlsCertificate?: Uint8Array;
}

function exactlyOne(certs: CertsCell, type: number): Uint8Array {
  const found = certs.ofType(type);
  if (found.length !== 1) throw new CertificateError('CERTS cell', `expected exactly one ${CertType.nameOf(type)} certificate (type ${type}), found ${found.length}`);
  return found[0]!.body;
}

function asCertificateError(what: string, e: unknown): never {
  if (e instanceof ProtocolError) throw new CertificateError(what, `malformed: ${e.message}`, { cause: e });
  throw e;
}

/** The part of the chain both sides of a link prove: RSA identity (2), cross-cert (7), identity → signing (4). */
function verifyIdentityChain(certs: CertsCell, now: Date) {
  const types = certs.certs.map((c) => c.type);
  const duplicate = types.find((t, i) => types.indexOf(t) !== i);
  if (duplicate !== undefined) throw new CertificateError('CERTS cell', `more than one certificate of type ${duplicate} (${CertType.nameOf(duplicate)})`);

  // RSA identity: a self-signed X.509 certificate of a 1024-bit key.
  const idCert = parseX509(exactlyOne(certs, CertType.RSA_ID_X509), 'RSA identity certificate (type 2)');
  const rsaKey = x509RsaKey(idCert, 'RSA identity certificate (type 2)');
  checkRelayIdentityKey(rsaKey);
  if (!x509SignedBy(idCert, rsaKey)) throw new CertificateError('RSA identity certificate (type 2)', 'not correctly self-signed');
  if (!x509ValidAt(idCert, now)) {
    throw new CertificateError('RSA identity certificate (type 2)', `not valid at ${now.toISOString()} (valid ${idCert.notBefore.toISOString()} to ${idCert.notAfter.toISOString()})`, {
      kind: now.getTime() < idCert.notBefore.getTime() ? 'certificate-not-yet-valid' : 'certificate-expired',
      validAfter: idCert.notBefore,
      validUntil: idCert.notAfter,
      now,
    });
  }
  const rsaIdentity = rsaKey.identityDigest();

  // RSA → Ed25519 cross-certificate.
  let cross: RsaCrossCert;
  try {
    cross = RsaCrossCert.decode(exactlyOne(certs, CertType.RSA_ID_V_IDENTITY));
  } catch (e) {
    asCertificateError('RSA→Ed25519 cross-certificate (type 7)', e);
  }
  const ed25519Identity = cross.verify(rsaKey, now);

  // Identity → signing key, signed by the identity named in its extension.
  let idToSigning: UnverifiedEd25519Cert;
  try {
    idToSigning = UnverifiedEd25519Cert.decode(exactlyOne(certs, CertType.IDENTITY_V_SIGNING));
  } catch (e) {
    asCertificateError('Ed25519 certificate', e);
  }
  if (idToSigning.unchecked.certType !== CertType.IDENTITY_V_SIGNING || idToSigning.unchecked.certKeyType !== CertKeyType.ED25519) {
    throw new CertificateError('identity→signing certificate (type 4)', `has cert type ${idToSigning.unchecked.certType} / key type ${idToSigning.unchecked.certKeyType}`);
  }
  const extKey = idToSigning.unchecked.signingKeyFromExtension;
  if (!extKey) throw new CertificateError('identity→signing certificate (type 4)', 'lacks the signed-with-ed25519-key extension');
  if (!equalBytes(extKey, ed25519Identity)) throw new CertificateError('identity→signing certificate (type 4)', 'is signed by a different Ed25519 identity than the cross-certificate certifies');
  const signing = idToSigning.check(ed25519Identity).checkValidAt(now);
  return { idCert, rsaKey, rsaIdentity, cross, ed25519Identity, signing };
}

export function verifyResponderCerts(input: ResponderCertsInput): VerifiedResponderIdentity {
  const { certs, now, expected } = input;
  const { idCert, rsaKey, rsaIdentity, cross, ed25519Identity, signing } = verifyIdentityChain(certs, now);
  let signingToLink: UnverifiedEd25519Cert;
  try {
    signingToLink = UnverifiedEd25519Cert.decode(exactlyOne(certs, CertType.SIGNING_V_TLS_CERT));
  } catch (e) {
    asCertificateError('Ed25519 certificate', e);
  }

  // Signing key → SHA-256 of the TLS certificate.
  if (signingToLink.unchecked.certType !== CertType.SIGNING_V_TLS_CERT || signingToLink.unchecked.certKeyType !== CertKeyType.SHA256_OF_X509) {
    throw new CertificateError('signing→TLS certificate (type 5)', `has cert type ${signingToLink.unchecked.certType} / key type ${signingToLink.unchecked.certKeyType}`);
  }
  const link = signingToLink.check(signing.certifiedKey).checkValidAt(now);
  let tlsCertChecked = false;
  if (input.peerTlsCertificate) {
    if (!equalBytesConstantTime(sha256(input.peerTlsCertificate), link.certifiedKey)) {
      throw new CertificateError('signing→TLS certificate (type 5)', 'certifies a different TLS certificate than the one this connection uses');
    }
    tlsCertChecked = true;
  }

  if (expected?.rsaIdentity && !equalBytes(expected.rsaIdentity, rsaIdentity)) {
    throw new CertificateError('CERTS cell', `RSA identity ${toHex(rsaIdentity).toUpperCase()} is not the expected ${toHex(expected.rsaIdentity).toUpperCase()}`);
  }
  if (expected?.ed25519Identity && !equalBytes(expected.ed25519Identity, ed25519Identity)) {
    throw new CertificateError('CERTS cell', `Ed25519 identity ${toHex(ed25519Identity)} is not the expected ${toHex(expected.ed25519Identity)}`);
  }

  const expiries = [idCert.notAfter, cross.expires, signing.expires, link.expires];
  return {
    rsaIdentity,
    fingerprint: rsaKey.fingerprint(),
    rsaKey,
    ed25519Identity,
    signingKey: signing.certifiedKey,
    tlsCertDigest: link.certifiedKey,
    tlsCertChecked,
    expires: new Date(Math.min(...expiries.map((d) => d.getTime()))),
  };
}

/** What a responder learns from an authenticating initiator's CERTS cell (a relay opening a link). */
export interface VerifiedInitiatorIdentity {
  readonly rsaIdentity: Uint8Array;
  readonly fingerprint: string;
  readonly rsaKey: RsaPublicKey;
  readonly ed25519Identity: Uint8Array;
  /** The Ed25519 key certified (type 6) to sign AUTHENTICATE. */
  readonly authKey: Uint8Array;
}

/**
 * The responder's check of an initiator's CERTS cell for Ed25519 link authentication (tor-spec
 * "Validating an initiator's CERTS"): types 2, 7, 4 as for a responder, and a type-6 certificate
 * from the signing key to the Ed25519 key that must have signed AUTHENTICATE.
 */
export function verifyInitiatorCerts(certs: CertsCell, now: Date): VerifiedInitiatorIdentity {
  const { rsaKey, rsaIdentity, ed25519Identity, signing } = verifyIdentityChain(certs, now);
  let signingToAuth: UnverifiedEd25519Cert;
  try {
    signingToAuth = UnverifiedEd25519Cert.decode(exactlyOne(certs, CertType.SIGNING_V_LINK_AUTH));
  } catch (e) {
    asCertificateError('signing→authentication certificate (type 6)', e);
  }
  if (signingToAuth.unchecked.certType !== CertType.SIGNING_V_LINK_AUTH || signingToAuth.unchecked.certKeyType !== CertKeyType.ED25519) {
    throw new CertificateError('signing→authentication certificate (type 6)', `has cert type ${signingToAuth.unchecked.certType} / key type ${signingToAuth.unchecked.certKeyType}`);
  }
  const auth = signingToAuth.check(signing.certifiedKey).checkValidAt(now);
  return { rsaIdentity, fingerprint: rsaKey.fingerprint(), rsaKey, ed25519Identity, authKey: auth.certifiedKey };
}
