import { createPublicKey, generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { toBase64 } from '../../shared/bytes/index.ts';
import {
  secureRandomBytes, type RandomBytes, OID_RSA_ENCRYPTION, OID_SHA256_WITH_RSA, RsaPublicKey, derBitString,
  derExplicit, derInteger, derNull, derOid, derSequence, derSet, derTime, derUnsignedInteger, derUtf8String,
} from '../../shared/crypto/index.ts';
import { UsageError } from '../../shared/util/index.ts';
import type { RsaKey } from './keys.ts';

/**
 * The relay's TLS credentials, made the way tor 0.4.9 makes them (checked against a running 0.4.9
 * relay's handshake):
 *
 *   - a fresh RSA-2048 link key;
 *   - the RSA identity certificate (CERTS type 2): X.509 v3, self-signed by the RSA-1024 identity
 *     key, subject = issuer = CN "www.<random>.com", no extensions, sha256WithRSAEncryption,
 *     valid one year from a random day in the past;
 *   - the TLS (link) certificate: X.509 v3 of the link key, CN "www.<random>.net", *issued by the
 *     identity key* (issuer = the identity certificate's name), no extensions. It is what the TLS
 *     server presents, and also the CERTS type-1 certificate (link key certified by the identity).
 *
 * Nothing in these names identifies a relay (tor-spec §2: no Tor-specific strings in clear-text
 * certificates). Authentication is not X.509's job here: the CERTS cell binds the identities to
 * the SHA-256 of this exact TLS certificate (type 5).
 *
 * Rotation: tor replaces its link key and certificates about once a day. `makeTlsCredentials`
 * (or `makeTlsCredentialsAsync`, which does not block the event loop) makes a new set; the caller swaps it into its TLS server (`tlsServerOptions`, or
 * `server.setSecureContext`) and makes new CERTS cells for it. Connections already open keep
 * theirs.
 *
 *   const tlsCreds = makeTlsCredentials(keys.identity, { now });
 *   tls.createServer(tlsServerOptions(tlsCreds), onSocket);
 */

export interface TlsCredentials {
  /** The RSA-2048 link key (TLS private key). */
  readonly key: KeyObject;
  readonly keyPem: string;
  /** DER of the TLS certificate; its SHA-256 is `certDigest`. */
  readonly certDer: Uint8Array;
  readonly certPem: string;
  /** SHA-256 of `certDer`, the key certified by the type-5 certificate. */
  readonly certDigest: Uint8Array;
  /** DER of the identity key's self-signed certificate (CERTS type 2), the issuer of `certDer`. */
  readonly identityCertDer: Uint8Array;
  /** When these credentials were made (the link certificates' lifetimes count from here). */
  readonly created: Date;
  /** The earlier of the two certificates' notAfter. */
  readonly notAfter: Date;
}

export interface TlsCredentialOptions {
  readonly now?: Date;
  readonly random?: RandomBytes;
  /** Link key size. tor: 2048. */
  readonly linkKeyBits?: number;
  /** X.509 validity of both certificates. tor: one year for the identity certificate. */
  readonly certLifetimeMs?: number;
}

const DAY = 86_400_000;
const DEFAULT_CERT_LIFETIME_MS = 365 * DAY;
/** A certificate starts on a random (whole) day in the past, but keeps at least this long to run. */
const MIN_REMAINING_MS = 30 * DAY;
const OID_COMMON_NAME = '2.5.4.3';
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function randomInt(random: RandomBytes, below: number): number {
  if (below <= 1) return 0;
  // 48 random bits: uniform enough for the ranges used here (days, name lengths).
  const b = random(6);
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v % below;
}

/** A random hostname like tor's: "www." + 8–20 base32 characters + `suffix`. */
export function randomTlsHostname(suffix: '.net' | '.com', random: RandomBytes = secureRandomBytes): string {
  const n = 8 + randomInt(random, 13);
  let s = '';
  for (const b of random(n)) s += BASE32[b & 31];
  return `www.${s}${suffix}`;
}

/** Validity starting at midnight UTC of a random past day, `lifetime` long, ending after now + MIN_REMAINING. */
function pickValidity(now: Date, lifetimeMs: number, random: RandomBytes): { notBefore: Date; notAfter: Date } {
  const maxBackDays = Math.max(0, Math.floor((lifetimeMs - MIN_REMAINING_MS) / DAY) - 1);
  const today = Math.floor(now.getTime() / DAY) * DAY;
  const notBefore = new Date(today - randomInt(random, maxBackDays + 1) * DAY);
  return { notBefore, notAfter: new Date(notBefore.getTime() + lifetimeMs) };
}

function rdnCommonName(cn: string): Uint8Array {
  return derSequence(derSet(derSequence(derOid(OID_COMMON_NAME), derUtf8String(cn))));
}

function spkiOf(key: RsaPublicKey): Uint8Array {
  return derSequence(derSequence(derOid(OID_RSA_ENCRYPTION), derNull()), derBitString(key.der));
}

/** A positive 64-bit serial number; DER adds a 0 byte when the top bit is set. */
function randomSerial(random: RandomBytes): Uint8Array {
  const s = random(8);
  if (s.every((b) => b === 0)) s[7] = 1;
  return derUnsignedInteger(s);
}

export interface CertificateToIssue {
  readonly subjectCn: string;
  readonly subjectKey: RsaPublicKey;
  readonly issuerCn: string;
  /** The key that signs (for a self-signed certificate, the subject's own key). */
  readonly issuerKey: RsaKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly random?: RandomBytes;
}

/** An X.509 v3 certificate without extensions, signed sha256WithRSAEncryption. */
export function issueX509(c: CertificateToIssue): Uint8Array {
  if (c.notAfter.getTime() <= c.notBefore.getTime()) throw new UsageError('certificate notAfter must be after notBefore');
  const sigAlg = derSequence(derOid(OID_SHA256_WITH_RSA), derNull());
  const tbs = derSequence(
    derExplicit(0, derInteger(2)), // v3
    randomSerial(c.random ?? secureRandomBytes),
    sigAlg,
    rdnCommonName(c.issuerCn),
    derSequence(derTime(c.notBefore), derTime(c.notAfter)),
    rdnCommonName(c.subjectCn),
    spkiOf(c.subjectKey),
  );
  return derSequence(tbs, sigAlg, derBitString(c.issuerKey.signSha256(tbs)));
}

/** The identity key's self-signed certificate (CERTS type 2). */
export function makeIdentityCert(identity: RsaKey, options: { now?: Date; random?: RandomBytes; lifetimeMs?: number; cn?: string } = {}): Uint8Array {
  const random = options.random ?? secureRandomBytes;
  const cn = options.cn ?? randomTlsHostname('.com', random);
  const v = pickValidity(options.now ?? new Date(), options.lifetimeMs ?? DEFAULT_CERT_LIFETIME_MS, random);
  return issueX509({ subjectCn: cn, subjectKey: identity.publicKey, issuerCn: cn, issuerKey: identity, ...v, random });
}

function pem(label: string, der: Uint8Array): string {
  const b64 = toBase64(der);
  let out = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return `${out}-----END ${label}-----\n`;
}

/** A new link key with its certificate, issued by the identity key, and the identity certificate. */
export function makeTlsCredentials(identity: RsaKey, options: TlsCredentialOptions = {}): TlsCredentials {
  checkLifetime(options);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: options.linkKeyBits ?? 2048, publicExponent: 65537 });
  return credentialsFor(identity, privateKey, options);
}

/** The same without blocking the event loop while the RSA-2048 key is made (~0.2 s). */
export async function makeTlsCredentialsAsync(identity: RsaKey, options: TlsCredentialOptions = {}): Promise<TlsCredentials> {
  checkLifetime(options);
  const privateKey = await new Promise<KeyObject>((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: options.linkKeyBits ?? 2048, publicExponent: 65537 }, (err, _pub, priv) => (err ? reject(err) : resolve(priv)));
  });
  return credentialsFor(identity, privateKey, options);
}

function checkLifetime(options: TlsCredentialOptions): void {
  const lifetime = options.certLifetimeMs ?? DEFAULT_CERT_LIFETIME_MS;
  if (lifetime < MIN_REMAINING_MS + DAY) throw new UsageError(`certificate lifetime must be at least ${MIN_REMAINING_MS / DAY + 1} days`);
}

function credentialsFor(identity: RsaKey, privateKey: KeyObject, options: TlsCredentialOptions): TlsCredentials {
  const now = options.now ?? new Date();
  const random = options.random ?? secureRandomBytes;
  const lifetime = options.certLifetimeMs ?? DEFAULT_CERT_LIFETIME_MS;
  const linkPublic = RsaPublicKey.fromPkcs1Der(new Uint8Array(createPublicKey(privateKey).export({ type: 'pkcs1', format: 'der' })));

  const idName = randomTlsHostname('.com', random);
  const idValidity = pickValidity(now, lifetime, random);
  const identityCertDer = issueX509({ subjectCn: idName, subjectKey: identity.publicKey, issuerCn: idName, issuerKey: identity, ...idValidity, random });
  const linkValidity = pickValidity(now, lifetime, random);
  const certDer = issueX509({ subjectCn: randomTlsHostname('.net', random), subjectKey: linkPublic, issuerCn: idName, issuerKey: identity, ...linkValidity, random });

  return {
    key: privateKey,
    keyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
    certDer,
    certPem: pem('CERTIFICATE', certDer),
    certDigest: sha256(certDer),
    identityCertDer,
    created: now,
    notAfter: new Date(Math.min(idValidity.notAfter.getTime(), linkValidity.notAfter.getTime())),
  };
}

/** `key` and `cert` for tls.createServer / tls.createSecureContext. */
export function tlsServerOptions(c: TlsCredentials): { key: string; cert: string } {
  return { key: c.keyPem, cert: c.certPem };
}
