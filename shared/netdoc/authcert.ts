import { sha1 } from '@noble/hashes/legacy.js';
import { toHex, utf8 } from '../bytes/index.ts';
import { CertificateError, ProtocolError, Unverified } from '../util/index.ts';
import { RsaPublicKey } from '../crypto/index.ts';
import { documentText, expectNoObject, expectObject, itemError, needArgs, parseHexField, parseTimeArgs, tokenize, type NetdocItem } from './netdoc.ts';

/**
 * Directory authority key certificates (dir-spec §3.1, "dir-key-certificate-version 3"). An
 * authority's long-term identity key certifies a medium-term signing key; consensuses are signed
 * with the signing key. A certificate is usable only after `check()`: its fingerprint names the
 * identity key, the identity key signs the certificate, and the signing key cross-signs the
 * identity (so a signing key cannot be claimed by another authority).
 */

const CONTEXT = 'authority key certificate';
const RSA_KEY = ['RSA PUBLIC KEY'];
/** dir-spec: implementations MUST accept the crosscert with or without the "ID " label prefix. */
const CROSSCERT_LABELS = ['ID SIGNATURE', 'SIGNATURE'];
const MIN_KEY_BITS = 1024;

export interface AuthCertFields {
  /** Upper-case hex SHA-1 of the identity key DER, as the "fingerprint" item states it. */
  readonly fingerprint: string;
  /** "dir-address" IP:port, if present. */
  readonly dirAddress: string | undefined;
  readonly identityKey: RsaPublicKey;
  readonly signingKey: RsaPublicKey;
  readonly published: Date;
  readonly expires: Date;
  /** Signature by the signing key over SHA-1 of the identity key's DER. */
  readonly crossCertSignature: Uint8Array;
  /** Signature by the identity key over SHA-1 of the certificate text up to "dir-key-certification\n". */
  readonly certificationSignature: Uint8Array;
  /** The certificate's full text, as received. */
  readonly text: string;
}

/**
 * An authority key certificate. Parsing gives it inside an UnverifiedAuthCert; only that one's
 * check() hands it out, once the fingerprint, certification and cross-certification verified.
 */
// The class adds behaviour; its fields are AuthCertFields's, declared once there (the interface
// merges into the class), so the parsed and the checked document never restate them.
export interface AuthCert extends AuthCertFields {}
export class AuthCert {
  /** @internal Made by the parser, handed out by UnverifiedAuthCert.check. */
  constructor(f: AuthCertFields) {
    Object.assign(this, f);
  }

  /** SHA-1 of the signing key's DER: the "signing-key-digest" that consensus signatures name. */
  get signingKeyDigest(): string {
    return toHex(sha1(this.signingKey.der)).toUpperCase();
  }

  /** Whether published - skew <= now <= expires + skew. */
  isCurrent(now: Date, skewMs = 0): boolean {
    return this.published.getTime() - skewMs <= now.getTime() && now.getTime() <= this.expires.getTime() + skewMs;
  }
}

export interface AuthCertVerifyOptions {
  /** Clock skew tolerated on both ends of [published, expires], in milliseconds (default 0). */
  skewMs?: number;
}

/**
 * A parsed certificate whose signatures have not been checked. check(now?, options) checks it:
 * with `now`, also published <= now <= expires (within `skewMs`); without it, the time check is
 * skipped (for callers that check later, or tests). Throws CertificateError saying which check
 * failed.
 */
export class UnverifiedAuthCert extends Unverified<AuthCert, [now?: Date, options?: AuthCertVerifyOptions], AuthCertFields> {
  /**
   * @internal Use parseAuthCerts / parseAuthCert. `signedText` is what the identity key signed:
   * from "dir-key-certificate-version" through "dir-key-certification\n".
   */
  constructor(fields: AuthCertFields, signedText: string) {
    const cert = new AuthCert(fields);
    super(cert, (_parsed, now, options = {}) => checkAuthCert(cert, signedText, now, options));
  }
}

function checkAuthCert(cert: AuthCert, signedText: string, now: Date | undefined, options: AuthCertVerifyOptions): AuthCert {
  const name = `authority certificate ${cert.fingerprint}`;
  const doc = { document: 'authority-certificate' } as const;
  if (cert.identityKey.bits < MIN_KEY_BITS) throw new CertificateError(name, `identity key has ${cert.identityKey.bits} bits, fewer than ${MIN_KEY_BITS}`, doc);
  if (cert.signingKey.bits < MIN_KEY_BITS) throw new CertificateError(name, `signing key has ${cert.signingKey.bits} bits, fewer than ${MIN_KEY_BITS}`, doc);
  if (cert.identityKey.fingerprint() !== cert.fingerprint) {
    throw new CertificateError(name, `identity key digest is ${cert.identityKey.fingerprint()}, not the stated fingerprint`, doc);
  }
  if (!cert.identityKey.verifyRawDigest(cert.certificationSignature, sha1(utf8(signedText)))) {
    throw new CertificateError(name, 'dir-key-certification signature by the identity key does not verify', doc);
  }
  if (!cert.signingKey.verifyRawDigest(cert.crossCertSignature, sha1(cert.identityKey.der))) {
    throw new CertificateError(name, 'dir-key-crosscert signature by the signing key does not verify', doc);
  }
  if (now) checkCertTime(cert, now, options.skewMs ?? 0);
  return cert;
}

function checkCertTime(cert: AuthCertFields, now: Date, skewMs: number): void {
  const name = `authority certificate ${cert.fingerprint}`;
  const times = { document: 'authority-certificate', validAfter: cert.published, validUntil: cert.expires, now } as const;
  if (now.getTime() < cert.published.getTime() - skewMs) throw new CertificateError(name, `published in the future (${cert.published.toISOString()})`, { kind: 'certificate-not-yet-valid', ...times });
  if (now.getTime() > cert.expires.getTime() + skewMs) throw new CertificateError(name, `expired at ${cert.expires.toISOString()}`, { kind: 'certificate-expired', ...times });
}

/** Parse one or more concatenated certificates (as served from /tor/keys/...). */
export function parseAuthCerts(input: string | Uint8Array): UnverifiedAuthCert[] {
  const text = documentText(input, CONTEXT);
  const items = tokenize(text, { context: CONTEXT });
  if (items.length === 0) throw new ProtocolError(CONTEXT, 'empty document');
  const certs: UnverifiedAuthCert[] = [];
  let i = 0;
  while (i < items.length) {
    const first = items[i]!;
    if (first.keyword !== 'dir-key-certificate-version') throw itemError(CONTEXT, first, 'certificate must start with "dir-key-certificate-version"');
    let j = i + 1;
    while (j < items.length && items[j]!.keyword !== 'dir-key-certificate-version') j++;
    certs.push(parseOne(text, items.slice(i, j)));
    i = j;
  }
  return certs;
}

/** Parse exactly one certificate. */
export function parseAuthCert(input: string | Uint8Array): UnverifiedAuthCert {
  const certs = parseAuthCerts(input);
  if (certs.length !== 1) throw new ProtocolError(CONTEXT, `expected one certificate, found ${certs.length}`);
  return certs[0]!;
}

function parseOne(text: string, items: readonly NetdocItem[]): UnverifiedAuthCert {
  const first = items[0]!;
  const version = needArgs(CONTEXT, first, 1)[0]!;
  if (version !== '3') throw itemError(CONTEXT, first, `unsupported version "${version}"`);
  expectNoObject(CONTEXT, first);

  const last = items[items.length - 1]!;
  const certIndex = items.findIndex((it) => it.keyword === 'dir-key-certification');
  if (certIndex < 0) throw itemError(CONTEXT, first, 'certificate has no "dir-key-certification"');
  if (certIndex !== items.length - 1) throw itemError(CONTEXT, items[certIndex + 1]!, 'item after "dir-key-certification", which must be last');

  const once = new Map<string, NetdocItem>();
  const ONCE = ['fingerprint', 'dir-identity-key', 'dir-key-published', 'dir-key-expires', 'dir-signing-key', 'dir-key-crosscert'];
  const AT_MOST_ONCE = ['dir-address'];
  for (const it of items.slice(1, -1)) {
    if (ONCE.includes(it.keyword) || AT_MOST_ONCE.includes(it.keyword)) {
      if (once.has(it.keyword)) throw itemError(CONTEXT, it, 'appears more than once');
      once.set(it.keyword, it);
    }
    // Unknown items are ignored (dir-spec §1.2).
  }
  const get = (k: string): NetdocItem => {
    const it = once.get(k);
    if (!it) throw itemError(CONTEXT, first, `missing "${k}"`);
    return it;
  };

  const fpItem = get('fingerprint');
  const fingerprint = parseHexField(CONTEXT, fpItem, needArgs(CONTEXT, fpItem, 1)[0]!, 'fingerprint', 20);
  expectNoObject(CONTEXT, fpItem);
  const dirAddressItem = once.get('dir-address');
  const dirAddress = dirAddressItem ? needArgs(CONTEXT, dirAddressItem, 1)[0] : undefined;
  const identityKey = rsaKeyItem(get('dir-identity-key'));
  const signingKey = rsaKeyItem(get('dir-signing-key'));
  const pubItem = get('dir-key-published');
  const expItem = get('dir-key-expires');
  const published = parseTimeArgs(CONTEXT, pubItem, 0);
  const expires = parseTimeArgs(CONTEXT, expItem, 0);
  expectNoObject(CONTEXT, pubItem);
  expectNoObject(CONTEXT, expItem);
  if (expires.getTime() < published.getTime()) throw itemError(CONTEXT, expItem, 'expires before it was published');
  const ccItem = get('dir-key-crosscert');
  noArgs(ccItem);
  const crossCertSignature = expectObject(CONTEXT, ccItem, CROSSCERT_LABELS);
  noArgs(last);
  const certificationSignature = expectObject(CONTEXT, last, ['SIGNATURE']);

  return new UnverifiedAuthCert(
    { fingerprint, dirAddress, identityKey, signingKey, published, expires, crossCertSignature, certificationSignature, text: text.slice(first.start, last.end) },
    // dir-spec §1.3: signed from the initial item through the newline after the signature item's keyword.
    text.slice(first.start, last.lineEnd + 1),
  );
}

/** dir-spec marks the key and signature items "[No extra arguments]". */
function noArgs(item: NetdocItem): void {
  if (item.args.length) throw itemError(CONTEXT, item, 'takes no arguments');
}

function rsaKeyItem(item: NetdocItem): RsaPublicKey {
  noArgs(item);
  const der = expectObject(CONTEXT, item, RSA_KEY);
  try {
    return RsaPublicKey.fromPkcs1Der(der);
  } catch (e) {
    throw new ProtocolError(CONTEXT, `line ${item.line} ("${item.keyword}"): not a valid RSA public key`, item.start, { cause: e });
  }
}
