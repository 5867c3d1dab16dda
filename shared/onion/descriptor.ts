import { x25519 } from '@noble/curves/ed25519.js';
import { concatBytes, utf8 } from '../bytes/index.ts';
import { UsageError } from '../util/index.ts';
import {
  DESCRIPTOR_COOKIE_LEN,
  ENCRYPTED_CONSTANT,
  SUPERENCRYPTED_CONSTANT,
  fakeAuthClientEntry,
  makeAuthClientEntry,
  openLayer,
  padPlaintext,
  randomBytes,
  recoverDescriptorCookie,
  sealLayer,
  type AuthClientEntry,
  type Ed25519Signer,
} from './descriptor-crypto.ts';
import { DescriptorError } from './descriptor-error.ts';
import { checkInnerLayerCerts, encodeInnerLayer, parseInnerLayer, type InnerLayer, type InnerLayerInput } from './descriptor-inner.ts';
import { encodeMiddleLayer, parseMiddleLayer, type MiddleLayer } from './descriptor-middle.ts';
import { buildOuterDescriptor, parseOuterDescriptor, verifyOuterDescriptor, type OuterDescriptor } from './descriptor-outer.ts';

/**
 * v3 onion-service descriptors, end to end (rend-spec-v3 §2.4–2.5): a client turns the document
 * an HSDir returned into the service's introduction points; a service builds the document.
 *
 *   outer (signed by the descriptor signing key, which the blinded key certifies)
 *     └ superencrypted: first layer, keyed by the blinded key + subcredential
 *         └ middle: client-auth data (real or fake) + encrypted: second layer, keyed by the
 *           blinded key (+ descriptor cookie under client auth) + subcredential
 *             └ inner: create2-formats, options, introduction points
 *
 * Key blinding and the subcredential come from the caller (shared/onion/keys.ts), and so do the
 * signers, since the blinded secret is an expanded Ed25519 key.
 */

export { DescriptorError, type DescriptorProblem } from './descriptor-error.ts';
export { parseOuterDescriptor, verifyOuterDescriptor, type OuterDescriptor, type VerifiedOuterDescriptor } from './descriptor-outer.ts';
export { parseMiddleLayer, encodeMiddleLayer, type MiddleLayer } from './descriptor-middle.ts';
export {
  parseInnerLayer,
  checkInnerLayerCerts,
  encodeInnerLayer,
  type InnerLayer,
  type InnerLayerInput,
  type IntroPoint,
  type IntroPointInput,
  type FlowControl,
  type PowParamsV1,
} from './descriptor-inner.ts';
export type { Ed25519Signer, AuthClientEntry } from './descriptor-crypto.ts';

/** First-layer plaintexts are padded with NULs to a multiple of this ([HS-DESC-FIRST-LAYER]). */
export const FIRST_LAYER_PAD_MULTIPLE = 10_000;
/** auth-client lines come in multiples of this, real ones hidden among fakes (rend-spec 2.5.1.4). */
export const AUTH_CLIENT_MULTIPLE = 16;
/** C tor's HS_DESC_CERT_LIFETIME: signing-key and intro certificates last 54 hours. */
export const DEFAULT_CERT_LIFETIME_HOURS = 54;
export const DEFAULT_LIFETIME_MINUTES = 180;

export interface DecodeDescriptorOptions {
  /** The blinded public key for the time period the descriptor was fetched for. */
  readonly blindedKey: Uint8Array;
  readonly subcredential: Uint8Array;
  readonly now: Date;
  /** The client's x25519 secret key for client authorization (KS_hsc_desc_enc), if it has one. */
  readonly clientAuthSecretKey?: Uint8Array | undefined;
}

/** A verified, fully decrypted descriptor: what a client needs to introduce itself. */
export interface OnionServiceDescriptor extends InnerLayer {
  readonly lifetimeMinutes: number;
  readonly revisionCounter: bigint;
  /** The descriptor signing key; intro point certificates are signed by it. */
  readonly signingKey: Uint8Array;
  readonly signingKeyExpires: Date;
  /** True when the second layer needed (and got) this client's descriptor cookie. */
  readonly usedClientAuth: boolean;
}

function check32(what: string, key: Uint8Array): void {
  if (key.length !== 32) throw new UsageError(`${what} must be 32 bytes`);
}

/** Decrypt the first layer of an outer document: the middle-layer plaintext, padding included. */
export function decryptFirstLayer(outer: OuterDescriptor, blindedKey: Uint8Array, subcredential: Uint8Array): Uint8Array {
  check32('blinded key', blindedKey);
  const plain = openLayer(outer.superencrypted, { secretData: blindedKey, subcredential, revisionCounter: outer.revisionCounter, constant: SUPERENCRYPTED_CONSTANT });
  if (!plain) throw new DescriptorError('decrypt-failed', 'first layer MAC does not match (wrong subcredential, or the descriptor was altered)');
  return plain;
}

/**
 * Decrypt the second layer. `cookie` is the descriptor cookie when client auth applies. Returns
 * undefined when the MAC does not match, which the caller interprets (needs client auth...).
 */
export function decryptSecondLayer(middle: MiddleLayer, blindedKey: Uint8Array, subcredential: Uint8Array, revisionCounter: bigint, cookie?: Uint8Array): Uint8Array | undefined {
  check32('blinded key', blindedKey);
  const secretData = cookie ? concatBytes(blindedKey, cookie) : blindedKey;
  return openLayer(middle.encrypted, { secretData, subcredential, revisionCounter, constant: ENCRYPTED_CONSTANT });
}

/**
 * The client side, all of it: check the outer document against the blinded key at `now`, open
 * both layers (with client authorization when a key is given and the service lists it), parse
 * the introduction points and check their certificates.
 */
export function decodeDescriptor(input: string | Uint8Array, opts: DecodeDescriptorOptions): OnionServiceDescriptor {
  check32('subcredential', opts.subcredential);
  if (opts.clientAuthSecretKey) check32('client authorization key', opts.clientAuthSecretKey);
  const outer = verifyOuterDescriptor(parseOuterDescriptor(input), opts.blindedKey, opts.now);
  const middle = parseMiddleLayer(decryptFirstLayer(outer, opts.blindedKey, opts.subcredential));

  let plain: Uint8Array | undefined;
  let usedClientAuth = false;
  if (opts.clientAuthSecretKey) {
    const cookie = recoverDescriptorCookie(middle.authClients, middle.ephemeralKey, opts.clientAuthSecretKey, opts.subcredential);
    if (cookie) {
      plain = decryptSecondLayer(middle, opts.blindedKey, opts.subcredential, outer.revisionCounter, cookie);
      // Our client id matched (8 bytes of a key only we and the service know), so a MAC failure
      // here is a damaged descriptor, not a question of authorization.
      if (!plain) throw new DescriptorError('decrypt-failed', 'second layer MAC does not match with the descriptor cookie from our auth-client entry');
      usedClientAuth = true;
    }
  }
  // A client with a key may still fetch a service without client auth (as C tor does).
  plain ??= decryptSecondLayer(middle, opts.blindedKey, opts.subcredential, outer.revisionCounter);
  if (!plain) {
    if (opts.clientAuthSecretKey) throw new DescriptorError('bad-client-auth', 'this onion service requires client authorization and does not list the configured client key');
    throw new DescriptorError('needs-client-auth', 'this onion service requires client authorization (a client key)');
  }
  const inner = parseInnerLayer(plain);
  checkInnerLayerCerts(inner, outer.signingKey, opts.now);
  return {
    ...inner,
    lifetimeMinutes: outer.lifetimeMinutes,
    revisionCounter: outer.revisionCounter,
    signingKey: outer.signingKey,
    signingKeyExpires: outer.signingKeyExpires,
    usedClientAuth,
  };
}

export interface BuildDescriptorOptions {
  readonly blindedKey: Uint8Array;
  /** Signs with the blinded secret key (it certifies the signing key). */
  readonly signWithBlindedKey: Ed25519Signer;
  /** The descriptor signing key (KP_hs_desc_sign) and its signer. */
  readonly signingKey: Uint8Array;
  readonly signWithSigningKey: Ed25519Signer;
  readonly subcredential: Uint8Array;
  readonly revisionCounter: bigint;
  /** Certificates expire `certLifetimeHours` after this. */
  readonly now: Date;
  readonly certLifetimeHours?: number;
  readonly lifetimeMinutes?: number;
  readonly inner: InnerLayerInput;
  /** x25519 public keys of authorized clients (KP_hsc_desc_enc); none means no client auth. */
  readonly authorizedClients?: readonly Uint8Array[];
}

/** Fisher–Yates with crypto randomness, so the real auth-client lines sit anywhere among the fakes. */
function shuffle<T>(items: T[]): T[] {
  const r = new Uint32Array(items.length);
  globalThis.crypto.getRandomValues(r);
  for (let i = items.length - 1; i > 0; i--) {
    const j = r[i]! % (i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** The service side: build, encrypt and sign a descriptor. Returns the document an HSDir stores. */
export function buildDescriptor(o: BuildDescriptorOptions): string {
  check32('blinded key', o.blindedKey);
  check32('signing key', o.signingKey);
  check32('subcredential', o.subcredential);
  const certLifetimeHours = o.certLifetimeHours ?? DEFAULT_CERT_LIFETIME_HOURS;
  const certExpires = new Date(o.now.getTime() + certLifetimeHours * 3_600_000);
  const innerText = encodeInnerLayer(o.inner, { signingKey: o.signingKey, sign: o.signWithSigningKey, certExpires });

  const clients = o.authorizedClients ?? [];
  const ephemeralSecret = randomBytes(32);
  const ephemeralKey = x25519.getPublicKey(ephemeralSecret);
  let cookie: Uint8Array | undefined;
  const entries: AuthClientEntry[] = [];
  if (clients.length > 0) {
    cookie = randomBytes(DESCRIPTOR_COOKIE_LEN);
    for (const pk of clients) {
      check32('client authorization key', pk);
      entries.push(makeAuthClientEntry(cookie, pk, ephemeralSecret, o.subcredential));
    }
  }
  const total = Math.max(AUTH_CLIENT_MULTIPLE, Math.ceil(entries.length / AUTH_CLIENT_MULTIPLE) * AUTH_CLIENT_MULTIPLE);
  while (entries.length < total) entries.push(fakeAuthClientEntry());
  ephemeralSecret.fill(0);

  const secondLayerKey = cookie ? concatBytes(o.blindedKey, cookie) : o.blindedKey;
  const encrypted = sealLayer(utf8(innerText), { secretData: secondLayerKey, subcredential: o.subcredential, revisionCounter: o.revisionCounter, constant: ENCRYPTED_CONSTANT });
  const middleText = encodeMiddleLayer({ authType: 'x25519', ephemeralKey, authClients: shuffle(entries), encrypted });
  const superencrypted = sealLayer(padPlaintext(utf8(middleText), FIRST_LAYER_PAD_MULTIPLE), {
    secretData: o.blindedKey,
    subcredential: o.subcredential,
    revisionCounter: o.revisionCounter,
    constant: SUPERENCRYPTED_CONSTANT,
  });
  return buildOuterDescriptor({
    blindedKey: o.blindedKey,
    signWithBlindedKey: o.signWithBlindedKey,
    signingKey: o.signingKey,
    signWithSigningKey: o.signWithSigningKey,
    signingKeyCertExpires: certExpires,
    lifetimeMinutes: o.lifetimeMinutes ?? DEFAULT_LIFETIME_MINUTES,
    revisionCounter: o.revisionCounter,
    superencrypted,
  });
}
