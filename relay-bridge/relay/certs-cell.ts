import type { TLSSocket } from 'node:tls';
import { sha256 } from '@noble/hashes/sha2.js';
import { Reader, Writer, concatBytes, equalBytes, equalBytesConstantTime, utf8 } from '../../shared/bytes/index.ts';
import { CertsCell, CertType, type CertEntry, AuthMethod, Authenticate } from '../../shared/cells/index.ts';
import {
  CertKeyType, verifyEd25519, type Ed25519Cert, secureRandomBytes, type RandomBytes, parseX509,
} from '../../shared/crypto/index.ts';
import { HandshakeError, UsageError } from '../../shared/util/index.ts';
import { Ed25519Signer, issueEd25519Cert } from './ed25519-signer.ts';
import type { RelayKeys } from './keys.ts';
import type { TlsCredentials } from './tls-cert.ts';
import type { LinkAuthenticator } from '../../shared/channel/index.ts';

/**
 * The relay's side of link authentication (tor-spec §4.2–4.4):
 *
 *   const link = new LinkCertificates(keys, tlsCreds);
 *   // As responder (someone connected to our ORPort):
 *   link.responderCerts(now).encode()        // CERTS body: types 1, 2, 4, 5, 7
 *   // As initiator (we extend to another relay and answer its AUTH_CHALLENGE):
 *   link.initiatorCerts(now).encode()        // CERTS body: types 2, 4, 6, 7
 *   buildAuthenticate({ ...transcript, tlsSecrets: exportAuthTlsSecrets(socket, cid) }, link.authKey(now))
 *
 * Responder CERTS, as tor 0.4.9 sends them (checked against a running relay): 1 (the TLS
 * certificate, issued by the RSA identity), 2 (RSA identity, self-signed), 4 (Ed25519 identity →
 * signing key, with the signed-with-key extension), 5 (signing key → SHA-256 of the TLS
 * certificate, key type 3), 7 (RSA → Ed25519 cross-certificate). Clients that check the Ed25519
 * chain (tor ≥ 0.3.0, shared/crypto/link-certs.ts) ignore type 1; it costs nothing and keeps the
 * cell the same as tor's.
 *
 * Initiator CERTS for Ed25519 authentication: 2, 4, 6 (signing key → the Ed25519 authentication
 * key that signs AUTHENTICATE), 7. tor additionally sends type 3 (an RSA "AUTH" X.509 certificate),
 * needed only for the RSA-only AuthType 1, which responders refuse once Ed25519 certificates are
 * present; a 0.4.9 responder checks exactly 2, 4, 6, 7 on this path.
 *
 * The type-5 and type-6 certificates live two days (tor's link and auth key lifetimes), are made
 * with the signing key current at the time, and are remade when half their life is gone or the
 * signing key changed. The TLS credentials themselves are the caller's to rotate (tls-cert.ts).
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface LinkCertificateOptions {
  /** Lifetime of type 5 (and of the type-6 auth key). tor: 2 days. */
  readonly linkCertLifetimeMs?: number;
  /** Include CERTS type 1 in the responder cell, as tor does. Default true. */
  readonly includeLinkCert?: boolean;
  readonly random?: RandomBytes;
}

interface Issued<T> {
  readonly value: T;
  readonly signingKey: Uint8Array;
  readonly made: number;
  readonly expires: number;
}

function fresh<T>(c: Issued<T> | undefined, signingKey: Uint8Array, now: Date): c is Issued<T> {
  if (!c || !equalBytesConstantTime(c.signingKey, signingKey)) return false;
  const t = now.getTime();
  return t >= c.made && t < c.made + (c.expires - c.made) / 2;
}

export class LinkCertificates {
  private readonly lifetime: number;
  private readonly includeLinkCert: boolean;
  private readonly random: RandomBytes;
  private type5: Issued<Ed25519Cert> | undefined;
  private auth: Issued<{ key: Ed25519Signer; cert: Ed25519Cert }> | undefined;

  constructor(readonly keys: RelayKeys, readonly tls: TlsCredentials, options: LinkCertificateOptions = {}) {
    this.lifetime = options.linkCertLifetimeMs ?? 2 * DAY;
    if (this.lifetime < 2 * HOUR) throw new UsageError('link certificate lifetime must be at least two hours');
    this.includeLinkCert = options.includeLinkCert ?? true;
    this.random = options.random ?? secureRandomBytes;
    if (!equalBytes(parseX509(tls.identityCertDer).publicKey, keys.identity.publicDer)) {
      throw new UsageError('the TLS credentials were made for another RSA identity than these keys');
    }
  }

  /** Type 5: the signing key certifies the SHA-256 of the TLS certificate. */
  signingToTlsCert(now: Date): Ed25519Cert {
    const signing = this.keys.signing;
    if (!fresh(this.type5, signing.signer.publicKey, now)) {
      const expires = now.getTime() + this.lifetime;
      const value = issueEd25519Cert(
        { certType: CertType.SIGNING_V_TLS_CERT, certKeyType: CertKeyType.SHA256_OF_X509, certifiedKey: this.tls.certDigest, expires: new Date(expires) },
        signing.signer,
      );
      this.type5 = { value, signingKey: signing.signer.publicKey, made: now.getTime(), expires };
    }
    return this.type5.value;
  }

  /** The Ed25519 authentication key (KP_link_ed) and its type-6 certificate from the signing key. */
  authKey(now: Date): { key: Ed25519Signer; cert: Ed25519Cert } {
    const signing = this.keys.signing;
    if (!fresh(this.auth, signing.signer.publicKey, now)) {
      const key = Ed25519Signer.generate(this.random);
      const expires = now.getTime() + this.lifetime;
      const cert = issueEd25519Cert(
        { certType: CertType.SIGNING_V_LINK_AUTH, certKeyType: CertKeyType.ED25519, certifiedKey: key.publicKey, expires: new Date(expires) },
        signing.signer,
      );
      this.auth = { value: { key, cert }, signingKey: signing.signer.publicKey, made: now.getTime(), expires };
    }
    return this.auth.value;
  }

  /** What a responder sends: types 1, 2, 4, 5, 7 (1 unless disabled). */
  responderCerts(now: Date): CertsCell {
    const certs: CertEntry[] = [];
    if (this.includeLinkCert) certs.push({ type: CertType.TLS_LINK_X509, body: this.tls.certDer });
    certs.push(
      { type: CertType.RSA_ID_X509, body: this.tls.identityCertDer },
      { type: CertType.IDENTITY_V_SIGNING, body: this.keys.signing.cert.encode() },
      { type: CertType.SIGNING_V_TLS_CERT, body: this.signingToTlsCert(now).encode() },
      { type: CertType.RSA_ID_V_IDENTITY, body: this.keys.rsaCrossCert(now) },
    );
    return new CertsCell(certs);
  }

  /** What an authenticating initiator sends before AUTHENTICATE: types 2, 4, 6, 7. */
  initiatorCerts(now: Date): CertsCell {
    return new CertsCell([
      { type: CertType.RSA_ID_X509, body: this.tls.identityCertDer },
      { type: CertType.IDENTITY_V_SIGNING, body: this.keys.signing.cert.encode() },
      { type: CertType.SIGNING_V_LINK_AUTH, body: this.authKey(now).cert.encode() },
      { type: CertType.RSA_ID_V_IDENTITY, body: this.keys.rsaCrossCert(now) },
    ]);
  }
}

// ---------------------------------------------------------------------------------------------
// AUTHENTICATE, link authentication type 3 (Ed25519-SHA256-RFC5705)
// ---------------------------------------------------------------------------------------------

export const AUTH0003_TYPE = utf8('AUTH0003');
export const AUTH0003_EXPORTER_LABEL = 'EXPORTER FOR TOR TLS CLIENT BINDING AUTH0003';
/** TYPE(8) + 8 × 32-byte fields + RAND(24): the part the signature covers. */
export const AUTH0003_SIGNED_LEN = 8 + 8 * 32 + 24;

/** The transcript values AUTHENTICATE binds (tor-spec §4.4.2); all 32 bytes unless noted. */
export interface Auth0003Fields {
  /** SHA-256 of the initiator's (our) RSA identity key, PKCS#1 DER. */
  readonly cid: Uint8Array;
  /** SHA-256 of the responder's RSA identity key, PKCS#1 DER (from its type-2 certificate). */
  readonly sid: Uint8Array;
  /** The initiator's Ed25519 identity. */
  readonly cidEd: Uint8Array;
  /** The responder's Ed25519 identity (all zero if it has none). */
  readonly sidEd: Uint8Array;
  /** SHA-256 of every byte the responder sent, from its VERSIONS through AUTH_CHALLENGE. */
  readonly slog: Uint8Array;
  /** SHA-256 of every byte we sent: our VERSIONS and our CERTS cell (the one before AUTHENTICATE). */
  readonly clog: Uint8Array;
  /** SHA-256 of the responder's TLS certificate (DER). */
  readonly scert: Uint8Array;
  /** The TLS exporter output: exportAuthTlsSecrets(socket, cid). */
  readonly tlsSecrets: Uint8Array;
  /** 24 random bytes; drawn when absent. */
  readonly rand?: Uint8Array;
}

function need(what: string, b: Uint8Array | undefined, n: number): Uint8Array {
  if (!b || b.length !== n) throw new UsageError(`AUTHENTICATE: ${what} must be ${n} bytes, got ${b?.length}`);
  return b;
}

/** The signed part: "AUTH0003" CID SID CID_ED SID_ED SLOG CLOG SCERT TLSSECRETS RAND. */
export function auth0003SignedPart(f: Auth0003Fields, random: RandomBytes = secureRandomBytes): Uint8Array {
  const rand = f.rand ?? random(24);
  return new Writer(AUTH0003_SIGNED_LEN)
    .bytes(AUTH0003_TYPE)
    .bytes(need('CID', f.cid, 32))
    .bytes(need('SID', f.sid, 32))
    .bytes(need('CID_ED', f.cidEd, 32))
    .bytes(need('SID_ED', f.sidEd, 32))
    .bytes(need('SLOG', f.slog, 32))
    .bytes(need('CLOG', f.clog, 32))
    .bytes(need('SCERT', f.scert, 32))
    .bytes(need('TLSSECRETS', f.tlsSecrets, 32))
    .bytes(need('RAND', rand, 24))
    .finish();
}

/**
 * The AUTHENTICATE cell (AuthType 3): the signed part followed by an Ed25519 signature of it (the
 * bytes themselves, not a hash of them) by the authentication key certified in our type-6
 * certificate.
 */
export function buildAuthenticate(fields: Auth0003Fields, authKey: Ed25519Signer, random: RandomBytes = secureRandomBytes): Authenticate {
  const signed = auth0003SignedPart(fields, random);
  return new Authenticate(AuthMethod.ED25519_SHA256_RFC5705, concatBytes(signed, authKey.sign(signed)));
}

/**
 * The responder's check of an AUTHENTICATE cell of type 3: every field before RAND equal to what
 * the responder computed itself, and the signature by `authKey` (from the initiator's verified
 * type-6 certificate). Bytes after the signature are ignored, as the spec requires.
 */
export function checkAuthenticate(cell: Authenticate, expected: Omit<Auth0003Fields, 'rand'>, authKey: Uint8Array): void {
  if (cell.authType !== AuthMethod.ED25519_SHA256_RFC5705) throw new HandshakeError('link authentication', `AUTHENTICATE of type ${cell.authType}, expected 3`);
  const r = new Reader(cell.authentication, 'AUTHENTICATE cell');
  const signed = r.bytesN(AUTH0003_SIGNED_LEN, 'signed part');
  const signature = r.bytesN(64, 'signature');
  const mine = auth0003SignedPart({ ...expected, rand: signed.subarray(AUTH0003_SIGNED_LEN - 24) });
  if (!equalBytesConstantTime(signed, mine)) {
    const names = ['TYPE', 'CID', 'SID', 'CID_ED', 'SID_ED', 'SLOG', 'CLOG', 'SCERT', 'TLSSECRETS'];
    const bad = names.filter((_, i) => {
      const [a, b] = i === 0 ? [0, 8] : [8 + (i - 1) * 32, 8 + i * 32];
      return !equalBytesConstantTime(signed.subarray(a, b), mine.subarray(a, b));
    });
    throw new HandshakeError('link authentication', `AUTHENTICATE fields differ: ${bad.join(', ')}`);
  }
  if (!verifyEd25519(signature, signed, authKey)) throw new HandshakeError('link authentication', 'AUTHENTICATE signature does not verify');
}

/** SHA-256 of an RSA identity key's PKCS#1 DER: CID and SID. */
export function authIdentityDigest(rsaPublicDer: Uint8Array): Uint8Array {
  return sha256(rsaPublicDer);
}

/**
 * TLSSECRETS from the live TLS session: the keying-material exporter (RFC 5705, or RFC 8446 §7.5
 * under TLS 1.3) with label "EXPORTER FOR TOR TLS CLIENT BINDING AUTH0003", length 32, and as
 * context the CID (SHA-256 of the initiator's RSA identity). tor-spec names the initiator's Ed25519
 * key as the context, but tor computes — and so checks — it with CID: a tor 0.4.9.11 relay accepts
 * our AUTHENTICATE with CID and refuses it with CID_ED ("Some field in the AUTHENTICATE cell body
 * was not as expected"; tor-interop.test.ts).
 */
export function exportAuthTlsSecrets(socket: Pick<TLSSocket, 'exportKeyingMaterial'>, cid: Uint8Array): Uint8Array {
  need('CID', cid, 32);
  return new Uint8Array(socket.exportKeyingMaterial(32, AUTH0003_EXPORTER_LABEL, Buffer.from(cid)));
}

/**
 * CERTS and AUTHENTICATE for a link this relay opens over `socket` (tor-spec link authentication
 * type 3), so the relay at the other end treats us as a relay and not as a client.
 */
export function initiatorAuthenticator(certs: LinkCertificates, socket: Pick<TLSSocket, 'exportKeyingMaterial'>): LinkAuthenticator {
  const now = new Date();
  const cid = authIdentityDigest(certs.keys.identity.publicDer);
  return {
    certsBody: certs.initiatorCerts(now).encode(),
    authenticate: ({ slog, clog, responder }) => {
      const cell = buildAuthenticate({
        cid,
        sid: authIdentityDigest(responder.rsaKey.der),
        cidEd: certs.keys.ed25519Identity,
        sidEd: responder.ed25519Identity,
        slog,
        clog,
        scert: responder.tlsCertDigest,
        tlsSecrets: exportAuthTlsSecrets(socket, cid),
      }, certs.authKey(now).key);
      return { authType: cell.authType, body: cell.authentication };
    },
  };
}
