import { ed25519 } from '@noble/curves/ed25519.js';
import { Reader, Writer, openEnum, equalBytes } from '../bytes/index.ts';
import { CertificateError, ProtocolError, Timebound, Unverified, UsageError } from '../util/index.ts';
import { CertType } from '../cells/index.ts';

/**
 * Tor's Ed25519 certificates (cert-spec "Certificate format"):
 *   VERSION 1 | CERT_TYPE | EXPIRATION_DATE (hours since epoch) | CERT_KEY_TYPE | CERTIFIED_KEY 32 |
 *   N_EXTENSIONS | extensions (len u16, type, flags, data) | SIGNATURE 64 over everything before it.
 * Checking is a type-state, as in Arti: decode → UnverifiedEd25519Cert; check(signingKey) →
 * Timebound<ValidEd25519Cert>; checkValidAt(now) → ValidEd25519Cert. Only the last is good to act on.
 */

export const CertKeyType = openEnum({ ED25519: 1, SHA256_OF_RSA: 2, SHA256_OF_X509: 3 });
export const CertExtType = openEnum({ SIGNED_WITH_ED25519_KEY: 4 });
/** Extension flag: a verifier that does not understand this extension must reject the certificate. */
export const EXT_FLAG_AFFECTS_VALIDATION = 1;

export interface CertExtension {
  readonly type: number;
  readonly flags: number;
  readonly data: Uint8Array;
}

export interface Ed25519CertFields {
  readonly certType: number;
  /** Hours since the epoch. */
  readonly expirationHours: number;
  readonly certKeyType: number;
  readonly certifiedKey: Uint8Array;
  readonly extensions: readonly CertExtension[];
}

function certName(certType: number): string {
  return `Ed25519 certificate (type ${certType} ${CertType.nameOf(certType)})`;
}

/** An Ed25519 certificate as decoded: its fields, its signature and the bytes the signature covers. */
export class Ed25519Cert implements Ed25519CertFields {
  constructor(
    readonly certType: number,
    readonly expirationHours: number,
    readonly certKeyType: number,
    readonly certifiedKey: Uint8Array,
    readonly extensions: readonly CertExtension[],
    readonly signature: Uint8Array,
    /** The bytes the signature covers. */
    readonly signedBytes: Uint8Array,
  ) {}

  static decode(bytes: Uint8Array): Ed25519Cert {
    const r = new Reader(bytes, 'Ed25519 certificate');
    const version = r.u8('version');
    if (version !== 1) throw r.error(`unsupported version ${version}`);
    const certType = r.u8('cert type');
    const expirationHours = r.u32('expiration');
    const certKeyType = r.u8('certified key type');
    const certifiedKey = r.bytesN(32, 'certified key').slice();
    const n = r.u8('extension count');
    const extensions: CertExtension[] = [];
    for (let i = 0; i < n; i++) {
      const len = r.u16('extension length');
      const type = r.u8('extension type');
      const flags = r.u8('extension flags');
      const data = r.bytesN(len, 'extension data').slice();
      if (type === CertExtType.SIGNED_WITH_ED25519_KEY && data.length !== 32) throw r.error(`signed-with-key extension of ${data.length} bytes`);
      extensions.push({ type, flags, data });
    }
    const signedBytes = bytes.slice(0, r.consumed);
    const signature = r.bytesN(64, 'signature').slice();
    r.shouldBeExhausted();
    return new Ed25519Cert(certType, expirationHours, certKeyType, certifiedKey, extensions, signature, signedBytes);
  }

  get name(): string {
    return certName(this.certType);
  }

  get expires(): Date {
    return new Date(this.expirationHours * 3600 * 1000);
  }

  /** The key in the signed-with-ed25519-key extension, if present. */
  get signingKeyFromExtension(): Uint8Array | undefined {
    return this.extensions.find((e) => e.type === CertExtType.SIGNED_WITH_ED25519_KEY)?.data;
  }

  /** The certificate's bytes (re-encoded; identical to what was decoded). */
  encode(): Uint8Array {
    return new Writer(this.signedBytes.length + 64).bytes(this.signedBytes).bytes(this.signature).finish();
  }
}

/** A certificate whose signature verified: `signedBy` certifies `certifiedKey`. */
export class ValidEd25519Cert extends Ed25519Cert {
  /** @internal made by UnverifiedEd25519Cert.check */
  constructor(cert: Ed25519Cert, readonly signedBy: Uint8Array) {
    super(cert.certType, cert.expirationHours, cert.certKeyType, cert.certifiedKey, cert.extensions, cert.signature, cert.signedBytes);
  }
}

/**
 * A decoded certificate, its signature not yet checked. check(signingKey?) checks the signature
 * with `signingKey`, or with the key from the signed-with extension when none is given (if both
 * exist they must agree; unknown extensions that affect validation fail), and gives the
 * certificate bound to its expiry: checkValidAt(now) on that gives the ValidEd25519Cert.
 */
export class UnverifiedEd25519Cert extends Unverified<Timebound<ValidEd25519Cert>, [signingKey?: Uint8Array], Ed25519Cert> {
  static decode(bytes: Uint8Array): UnverifiedEd25519Cert {
    return new UnverifiedEd25519Cert(Ed25519Cert.decode(bytes));
  }

  constructor(cert: Ed25519Cert) {
    super(cert, checkEd25519Signature);
  }

  /** The certificate's bytes, as decoded. */
  encode(): Uint8Array {
    return this.unchecked.encode();
  }
}

function checkEd25519Signature(cert: Ed25519Cert, signingKey?: Uint8Array): Timebound<ValidEd25519Cert> {
  for (const e of cert.extensions) {
    if (!CertExtType.isKnown(e.type) && e.flags & EXT_FLAG_AFFECTS_VALIDATION) {
      throw new CertificateError(cert.name, `unknown extension type ${e.type} marked as affecting validation`);
    }
  }
  const fromExt = cert.signingKeyFromExtension;
  if (signingKey && fromExt && !equalBytes(signingKey, fromExt)) throw new CertificateError(cert.name, 'signed-with-key extension names a different key than expected');
  const key = signingKey ?? fromExt;
  if (!key) throw new CertificateError(cert.name, 'no signing key given and no signed-with-key extension');
  if (!verifyEd25519(cert.signature, cert.signedBytes, key)) throw new CertificateError(cert.name, 'signature does not verify');
  const expires = cert.expires;
  return new Timebound(new ValidEd25519Cert(cert, key), { notAfter: expires }, (_side, now) =>
    new CertificateError(cert.name, `expired at ${expires.toISOString()} (now ${now.toISOString()})`, { kind: 'certificate-expired', validUntil: expires, now }));
}

/** Ed25519 verification that reports a malformed key or signature as "does not verify". */
export function verifyEd25519(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    return ed25519.verify(signature, message, publicKey);
  } catch (e) {
    // noble throws on points that do not decode; for a verifier that is simply a bad signature.
    if (e instanceof Error) return false;
    throw e;
  }
}

/**
 * Issue a certificate: a relay makes its own type 4 (identity → signing key) and type 5 (signing
 * key → TLS certificate digest). `signWith` is the 32-byte Ed25519 secret of the signer; if
 * `includeSignerKey`, the signer's public key goes in a signed-with-key extension.
 */
export function signEd25519Cert(fields: Ed25519CertFields, signWith: Uint8Array, opts: { includeSignerKey?: boolean } = {}): Ed25519Cert {
  if (fields.certifiedKey.length !== 32) throw new UsageError('certified key must be 32 bytes');
  const extensions = [...fields.extensions];
  if (opts.includeSignerKey) extensions.unshift({ type: CertExtType.SIGNED_WITH_ED25519_KEY, flags: 0, data: ed25519.getPublicKey(signWith) });
  const w = new Writer(140).u8(1).u8(fields.certType).u32(fields.expirationHours).u8(fields.certKeyType).bytes(fields.certifiedKey).u8(extensions.length);
  for (const e of extensions) w.u16(e.data.length).u8(e.type).u8(e.flags).bytes(e.data);
  const signed = w.finish();
  const signature = ed25519.sign(signed, signWith);
  try {
    return Ed25519Cert.decode(new Writer(signed.length + 64).bytes(signed).bytes(signature).finish());
  } catch (e) {
    if (e instanceof ProtocolError) throw new UsageError(`cannot encode certificate: ${e.message}`);
    throw e;
  }
}
