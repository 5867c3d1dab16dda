import { ed25519 } from '@noble/curves/ed25519.js';
import { Reader, Writer, openEnum, equalBytes } from '../bytes/index.ts';
import { CertificateError, ProtocolError, UsageError } from '../util/index.ts';
import { CertType } from '../cells/index.ts';

/**
 * Tor's Ed25519 certificates (cert-spec "Certificate format"):
 *   VERSION 1 | CERT_TYPE | EXPIRATION_DATE (hours since epoch) | CERT_KEY_TYPE | CERTIFIED_KEY 32 |
 *   N_EXTENSIONS | extensions (len u16, type, flags, data) | SIGNATURE 64 over everything before it.
 * Checking is a type-state, as in Arti: decode → UnverifiedEd25519Cert; checkSignature →
 * SignatureCheckedCert; checkExpiry → ValidEd25519Cert. Only the last is good to act on.
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

abstract class Ed25519CertBase implements Ed25519CertFields {
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
}

export class UnverifiedEd25519Cert extends Ed25519CertBase {
  static decode(bytes: Uint8Array): UnverifiedEd25519Cert {
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
    return new UnverifiedEd25519Cert(certType, expirationHours, certKeyType, certifiedKey, extensions, signature, signedBytes);
  }

  /** The certificate's bytes (re-encoded; identical to what was decoded). */
  encode(): Uint8Array {
    return new Writer(this.signedBytes.length + 64).bytes(this.signedBytes).bytes(this.signature).finish();
  }

  /**
   * Check the signature with `signingKey`, or with the key from the signed-with extension when
   * none is given. If both exist they must agree. Unknown extensions that affect validation fail.
   */
  checkSignature(signingKey?: Uint8Array): SignatureCheckedCert {
    for (const e of this.extensions) {
      if (!CertExtType.isKnown(e.type) && e.flags & EXT_FLAG_AFFECTS_VALIDATION) {
        throw new CertificateError(this.name, `unknown extension type ${e.type} marked as affecting validation`);
      }
    }
    const fromExt = this.signingKeyFromExtension;
    if (signingKey && fromExt && !equalBytes(signingKey, fromExt)) throw new CertificateError(this.name, 'signed-with-key extension names a different key than expected');
    const key = signingKey ?? fromExt;
    if (!key) throw new CertificateError(this.name, 'no signing key given and no signed-with-key extension');
    if (!verifyEd25519(this.signature, this.signedBytes, key)) throw new CertificateError(this.name, 'signature does not verify');
    return new SignatureCheckedCert(this.certType, this.expirationHours, this.certKeyType, this.certifiedKey, this.extensions, this.signature, this.signedBytes, key);
  }
}

export class SignatureCheckedCert extends Ed25519CertBase {
  /** @internal created by UnverifiedEd25519Cert.checkSignature */
  constructor(
    certType: number, expirationHours: number, certKeyType: number, certifiedKey: Uint8Array, extensions: readonly CertExtension[],
    signature: Uint8Array, signedBytes: Uint8Array, readonly signedBy: Uint8Array,
  ) {
    super(certType, expirationHours, certKeyType, certifiedKey, extensions, signature, signedBytes);
  }

  checkExpiry(now: Date): ValidEd25519Cert {
    if (now.getTime() > this.expires.getTime()) throw new CertificateError(this.name, `expired at ${this.expires.toISOString()} (now ${now.toISOString()})`, { kind: 'certificate-expired', validUntil: this.expires, now });
    return new ValidEd25519Cert(this);
  }
}

/** A certificate whose signature and expiry were checked: `signedBy` certifies `certifiedKey`. */
export class ValidEd25519Cert {
  readonly certType: number;
  readonly certKeyType: number;
  readonly certifiedKey: Uint8Array;
  readonly signedBy: Uint8Array;
  readonly expires: Date;
  constructor(c: SignatureCheckedCert) {
    this.certType = c.certType;
    this.certKeyType = c.certKeyType;
    this.certifiedKey = c.certifiedKey;
    this.signedBy = c.signedBy;
    this.expires = c.expires;
  }
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
export function signEd25519Cert(fields: Ed25519CertFields, signWith: Uint8Array, opts: { includeSignerKey?: boolean } = {}): UnverifiedEd25519Cert {
  if (fields.certifiedKey.length !== 32) throw new UsageError('certified key must be 32 bytes');
  const extensions = [...fields.extensions];
  if (opts.includeSignerKey) extensions.unshift({ type: CertExtType.SIGNED_WITH_ED25519_KEY, flags: 0, data: ed25519.getPublicKey(signWith) });
  const w = new Writer(140).u8(1).u8(fields.certType).u32(fields.expirationHours).u8(fields.certKeyType).bytes(fields.certifiedKey).u8(extensions.length);
  for (const e of extensions) w.u16(e.data.length).u8(e.type).u8(e.flags).bytes(e.data);
  const signed = w.finish();
  const signature = ed25519.sign(signed, signWith);
  try {
    return UnverifiedEd25519Cert.decode(new Writer(signed.length + 64).bytes(signed).bytes(signature).finish());
  } catch (e) {
    if (e instanceof ProtocolError) throw new UsageError(`cannot encode certificate: ${e.message}`);
    throw e;
  }
}
