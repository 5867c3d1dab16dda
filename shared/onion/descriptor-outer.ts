import { concatBytes, equalBytes, toBase64, utf8 } from '../bytes/index.ts';
import { CertificateError, UsageError } from '../util/index.ts';
import { CertType } from '../cells/index.ts';
import { CertKeyType, UnverifiedEd25519Cert, verifyEd25519 } from '../crypto/index.ts';
import {
  encodeNetdoc,
  expectNoObject,
  expectObject,
  itemError,
  needArgs,
  parseBase64Field,
  parseIntField,
  tokenize,
  UINT32_MAX,
  type NetdocItem,
} from '../netdoc/index.ts';
import { makeEd25519Cert, type Ed25519Signer } from './descriptor-crypto.ts';
import { DescriptorError, malformedOnError } from './descriptor-error.ts';

/**
 * The outer document of a v3 onion-service descriptor (rend-spec-v3 [DESC-OUTER]): what an HSDir
 * stores and anyone who knows the blinded key can check. It carries the descriptor signing key,
 * certified by the blinded key, and the first encrypted layer, signed by that signing key.
 */

export const DESC_SIG_PREFIX = 'Tor onion service descriptor sig v3';
/** HSDirs accept descriptors up to 50 000 bytes (rend-spec); larger is not a real descriptor. */
export const MAX_DESCRIPTOR_BYTES = 50_000;
export const MIN_LIFETIME_MINUTES = 30;
export const MAX_LIFETIME_MINUTES = 720;
const UINT64_MAX = (1n << 64n) - 1n;

const CONTEXT = 'onion-service descriptor (outer)';
const CERT_LABEL = 'ED25519 CERT';
const MESSAGE_LABEL = 'MESSAGE';

export interface OuterDescriptor {
  readonly lifetimeMinutes: number;
  /** descriptor-signing-key-cert, not yet checked. */
  readonly signingKeyCert: UnverifiedEd25519Cert;
  readonly revisionCounter: bigint;
  /** The first-layer blob: salt | ciphertext | MAC. */
  readonly superencrypted: Uint8Array;
  readonly signature: Uint8Array;
  /** What the signature covers: the prefix, then the document up to the "signature" keyword. */
  readonly signedMessage: Uint8Array;
}

/** An outer document whose certificate and signature were checked against the blinded key. */
export interface VerifiedOuterDescriptor extends OuterDescriptor {
  readonly blindedKey: Uint8Array;
  /** The descriptor signing key (certified key of the signing-key cert). */
  readonly signingKey: Uint8Array;
  readonly signingKeyExpires: Date;
}

const ONCE = ['hs-descriptor', 'descriptor-lifetime', 'descriptor-signing-key-cert', 'revision-counter', 'superencrypted', 'signature'] as const;

/** Syntax only: the items, their counts and positions, field sizes. No cryptography. */
export function parseOuterDescriptor(input: string | Uint8Array): OuterDescriptor {
  if (input.length > MAX_DESCRIPTOR_BYTES) throw new DescriptorError('malformed', `descriptor of ${input.length} bytes exceeds ${MAX_DESCRIPTOR_BYTES}`);
  const items = malformedOnError('outer document', () => tokenize(input, { context: CONTEXT }));
  return malformedOnError('outer document', () => {
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || first.keyword !== 'hs-descriptor') throw new DescriptorError('malformed', 'document does not start with "hs-descriptor"');
    // The version first: a later version may change everything after it.
    expectNoObject(CONTEXT, first);
    const version = parseIntField(CONTEXT, first, needArgs(CONTEXT, first, 1)[0]!, 'version', 0, UINT32_MAX);
    if (version !== 3) throw new DescriptorError('unsupported-version', `hs-descriptor version ${version}, only 3 is supported`, first.start);
    if (!last || last.keyword !== 'signature') throw new DescriptorError('malformed', 'document does not end with "signature"');
    const found = new Map<string, NetdocItem>();
    for (const item of items) {
      if (!(ONCE as readonly string[]).includes(item.keyword)) continue; // dir-spec: unknown keywords are ignored
      if (found.has(item.keyword)) throw itemError(CONTEXT, item, 'appears more than once');
      found.set(item.keyword, item);
    }
    const get = (kw: (typeof ONCE)[number]): NetdocItem => {
      const item = found.get(kw);
      if (!item) throw new DescriptorError('malformed', `missing "${kw}"`);
      return item;
    };

    const lifetimeItem = get('descriptor-lifetime');
    expectNoObject(CONTEXT, lifetimeItem);
    const lifetimeMinutes = parseIntField(CONTEXT, lifetimeItem, needArgs(CONTEXT, lifetimeItem, 1)[0]!, 'lifetime', MIN_LIFETIME_MINUTES, MAX_LIFETIME_MINUTES);

    const certItem = get('descriptor-signing-key-cert');
    const signingKeyCert = UnverifiedEd25519Cert.decode(expectObject(CONTEXT, certItem, [CERT_LABEL]));

    const counterItem = get('revision-counter');
    expectNoObject(CONTEXT, counterItem);
    const counterText = needArgs(CONTEXT, counterItem, 1)[0]!;
    if (!/^[0-9]{1,20}$/.test(counterText) || BigInt(counterText) > UINT64_MAX) throw itemError(CONTEXT, counterItem, `revision counter "${counterText.slice(0, 30)}" is not a 64-bit unsigned integer`);
    const revisionCounter = BigInt(counterText);

    const superencrypted = expectObject(CONTEXT, get('superencrypted'), [MESSAGE_LABEL]);

    const sigItem = get('signature');
    expectNoObject(CONTEXT, sigItem);
    const signature = parseBase64Field(CONTEXT, sigItem, needArgs(CONTEXT, sigItem, 1)[0]!, 'signature', 64);
    const text = typeof input === 'string' ? input : new TextDecoder().decode(input);
    const signedMessage = concatBytes(utf8(DESC_SIG_PREFIX), utf8(text.slice(0, sigItem.start)));

    return { lifetimeMinutes, signingKeyCert, revisionCounter, superencrypted, signature, signedMessage };
  });
}

/**
 * Check the outer document as a client does: the signing-key certificate is type 08, names the
 * blinded key in its signed-with-key extension, is signed by it and valid at `now`; the document
 * is signed by the certified signing key.
 */
export function verifyOuterDescriptor(outer: OuterDescriptor, blindedKey: Uint8Array, now: Date): VerifiedOuterDescriptor {
  if (blindedKey.length !== 32) throw new UsageError('blinded key must be 32 bytes');
  const cert = outer.signingKeyCert;
  if (cert.unchecked.certType !== CertType.BLINDED_ID_V_SIGNING) throw new DescriptorError('bad-cert', `descriptor-signing-key-cert has type ${cert.unchecked.certType}, expected ${CertType.BLINDED_ID_V_SIGNING}`);
  if (cert.unchecked.certKeyType !== CertKeyType.ED25519) throw new DescriptorError('bad-cert', `descriptor-signing-key-cert certifies key type ${cert.unchecked.certKeyType}, expected Ed25519`);
  const named = cert.unchecked.signingKeyFromExtension;
  if (!named) throw new DescriptorError('bad-cert', 'descriptor-signing-key-cert lacks the signed-with-key extension');
  if (!equalBytes(named, blindedKey)) throw new DescriptorError('wrong-blinded-key', 'descriptor-signing-key-cert is signed by a different blinded key than this onion address gives for this time period');
  let checked;
  try {
    checked = cert.check(blindedKey);
  } catch (e) {
    if (e instanceof CertificateError) throw new DescriptorError('bad-cert', e.message, undefined, { cause: e });
    throw e;
  }
  let valid;
  try {
    valid = checked.checkValidAt(now);
  } catch (e) {
    if (e instanceof CertificateError) throw new DescriptorError('expired-cert', `descriptor-signing-key-cert ${e.message}`, undefined, { cause: e });
    throw e;
  }
  if (!verifyEd25519(outer.signature, outer.signedMessage, valid.certifiedKey)) throw new DescriptorError('bad-signature', 'descriptor signature does not verify with the certified signing key');
  return { ...outer, blindedKey: blindedKey.slice(), signingKey: valid.certifiedKey.slice(), signingKeyExpires: valid.expires };
}

export interface BuildOuterOptions {
  readonly blindedKey: Uint8Array;
  /** Signs with the blinded private key (an expanded Ed25519 key). */
  readonly signWithBlindedKey: Ed25519Signer;
  readonly signingKey: Uint8Array;
  readonly signWithSigningKey: Ed25519Signer;
  /** When the signing-key certificate expires (rounded up to the hour). */
  readonly signingKeyCertExpires: Date;
  readonly lifetimeMinutes: number;
  readonly revisionCounter: bigint;
  readonly superencrypted: Uint8Array;
}

/** The service side: certify the signing key with the blinded key, and sign the document. */
export function buildOuterDescriptor(o: BuildOuterOptions): string {
  if (!Number.isInteger(o.lifetimeMinutes) || o.lifetimeMinutes < MIN_LIFETIME_MINUTES || o.lifetimeMinutes > MAX_LIFETIME_MINUTES) {
    throw new UsageError(`descriptor lifetime must be ${MIN_LIFETIME_MINUTES}..${MAX_LIFETIME_MINUTES} minutes`);
  }
  if (o.revisionCounter < 0n || o.revisionCounter > UINT64_MAX) throw new UsageError('revision counter must fit in 64 bits');
  const cert = makeEd25519Cert(CertType.BLINDED_ID_V_SIGNING, o.signingKey, o.signingKeyCertExpires, o.blindedKey, o.signWithBlindedKey);
  const body = encodeNetdoc([
    { keyword: 'hs-descriptor', args: ['3'] },
    { keyword: 'descriptor-lifetime', args: [String(o.lifetimeMinutes)] },
    { keyword: 'descriptor-signing-key-cert', object: { label: CERT_LABEL, data: cert.encode() } },
    { keyword: 'revision-counter', args: [o.revisionCounter.toString()] },
    { keyword: 'superencrypted', object: { label: MESSAGE_LABEL, data: o.superencrypted } },
  ]);
  const signature = o.signWithSigningKey(concatBytes(utf8(DESC_SIG_PREFIX), utf8(body)));
  if (signature.length !== 64) throw new UsageError('signer returned a signature that is not 64 bytes');
  const doc = `${body}signature ${toBase64(signature, false)}\n`;
  if (doc.length > MAX_DESCRIPTOR_BYTES) throw new UsageError(`descriptor of ${doc.length} bytes exceeds ${MAX_DESCRIPTOR_BYTES} (too many intro points or clients?)`);
  return doc;
}
