import { ctr } from '@noble/ciphers/aes.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { shake256 } from '@noble/hashes/sha3.js';
import { Writer, concatBytes, equalBytesConstantTime, utf8 } from '../bytes/index.ts';
import { ProtocolError, UsageError } from '../util/index.ts';
import { CertExtType, CertKeyType, Ed25519Cert } from '../crypto/index.ts';
import { DescriptorError } from './descriptor-error.ts';
import { hsMac } from './hs-ntor.ts';
import { curve25519ToEd25519 } from './keys.ts';

/**
 * The cryptography of v3 descriptors (rend-spec-v3 [HS-DESC-ENCRYPTION-KEYS], [HS-DESC-FIRST-LAYER]):
 * both encrypted layers share one format, blob = SALT(16) | AES-256-CTR ciphertext | MAC(32), with
 *   keys = SHAKE-256(SECRET_DATA | subcredential | INT_8(revision_counter) | SALT | STRING_CONSTANT)
 *        -> SECRET_KEY(32) | SECRET_IV(16) | MAC_KEY(32)
 *   MAC  = SHA3-256(INT_8(32) | MAC_KEY | INT_8(16) | SALT | ciphertext)
 * and client authorization hands each authorized client the descriptor cookie (second layer's
 * extra SECRET_DATA) under a key only that client and the service can compute.
 */

/** STRING_CONSTANT of the first (outer, "superencrypted") layer. */
export const SUPERENCRYPTED_CONSTANT = 'hsdir-superencrypted-data';
/** STRING_CONSTANT of the second (inner, "encrypted") layer. */
export const ENCRYPTED_CONSTANT = 'hsdir-encrypted-data';

const SALT_LEN = 16;
const MAC_LEN = 32;
const S_KEY_LEN = 32;
const S_IV_LEN = 16;
const MAC_KEY_LEN = 32;
export const CLIENT_ID_LEN = 8;
export const AUTH_CLIENT_IV_LEN = 16;
/**
 * Descriptor cookie length. rend-spec says 32 random bytes, but C tor (and so every deployed
 * service) uses 16 (HS_DESC_DESCRIPTOR_COOKIE_LEN); we build with 16 and read either.
 */
export const DESCRIPTOR_COOKIE_LEN = 16;
const COOKIE_KEY_LEN = 32;

/** Everything that selects a layer's keys except the salt. */
export interface LayerKeyInput {
  /** blinded public key, plus the descriptor cookie for the second layer under client auth. */
  readonly secretData: Uint8Array;
  readonly subcredential: Uint8Array;
  readonly revisionCounter: bigint;
  readonly constant: string;
}

function layerKeys(k: LayerKeyInput, salt: Uint8Array): { key: Uint8Array; iv: Uint8Array; macKey: Uint8Array } {
  if (k.subcredential.length !== 32) throw new UsageError('subcredential must be 32 bytes');
  const counter = new Writer(8).u64(k.revisionCounter).finish();
  const out = shake256(concatBytes(k.secretData, k.subcredential, counter, salt, utf8(k.constant)), { dkLen: S_KEY_LEN + S_IV_LEN + MAC_KEY_LEN });
  return {
    key: out.subarray(0, S_KEY_LEN),
    iv: out.subarray(S_KEY_LEN, S_KEY_LEN + S_IV_LEN),
    macKey: out.subarray(S_KEY_LEN + S_IV_LEN),
  };
}

/** rend-spec's descriptor MAC: the generic MAC over htonll(len(salt)) | salt | ciphertext. */
function layerMac(macKey: Uint8Array, salt: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return hsMac(macKey, concatBytes(new Writer(8).u64(BigInt(salt.length)).finish(), salt, ciphertext));
}

/**
 * Decrypt one layer. Returns undefined when the MAC does not match (the caller knows whether that
 * means "wrong subcredential", "needs client auth" or "tampered"); a blob too short to hold a salt
 * and a MAC is malformed.
 */
export function openLayer(blob: Uint8Array, k: LayerKeyInput): Uint8Array | undefined {
  if (blob.length < SALT_LEN + MAC_LEN) throw new DescriptorError('malformed', `encrypted layer of ${blob.length} bytes is shorter than salt and MAC`);
  const salt = blob.subarray(0, SALT_LEN);
  const ciphertext = blob.subarray(SALT_LEN, blob.length - MAC_LEN);
  const mac = blob.subarray(blob.length - MAC_LEN);
  const { key, iv, macKey } = layerKeys(k, salt);
  if (!equalBytesConstantTime(layerMac(macKey, salt, ciphertext), mac)) return undefined;
  return ctr(key, iv).decrypt(ciphertext);
}

/** Encrypt one layer with a fresh (or given, for tests) 16-byte salt. */
export function sealLayer(plaintext: Uint8Array, k: LayerKeyInput, salt: Uint8Array = randomBytes(SALT_LEN)): Uint8Array {
  if (salt.length !== SALT_LEN) throw new UsageError(`salt must be ${SALT_LEN} bytes`);
  const { key, iv, macKey } = layerKeys(k, salt);
  const ciphertext = ctr(key, iv).encrypt(plaintext);
  return concatBytes(salt, ciphertext, layerMac(macKey, salt, ciphertext));
}

export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}

/**
 * Trailing NULs are padding (the first layer is padded to a multiple of 10 000 bytes); C tor also
 * leaves the final newline off the first-layer plaintext, which the netdoc tokenizer requires.
 */
export function unpadPlaintext(plaintext: Uint8Array): Uint8Array {
  let end = plaintext.length;
  while (end > 0 && plaintext[end - 1] === 0) end--;
  if (end > 0 && plaintext[end - 1] !== 0x0a) return concatBytes(plaintext.subarray(0, end), Uint8Array.of(0x0a));
  return plaintext.subarray(0, end);
}

/** NUL padding to the next multiple of `multiple` bytes ([HS-DESC-FIRST-LAYER]: 10 000). */
export function padPlaintext(plaintext: Uint8Array, multiple: number): Uint8Array {
  const len = Math.max(multiple, Math.ceil(plaintext.length / multiple) * multiple);
  const out = new Uint8Array(len);
  out.set(plaintext);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Client authorization ([HS-DESC-FIRST-LAYER] "auth-client").

export interface AuthClientEntry {
  readonly clientId: Uint8Array;
  readonly iv: Uint8Array;
  readonly encryptedCookie: Uint8Array;
}

/** X25519 that reports a low-order peer key (all-zero shared secret) as undefined, not a throw. */
export function x25519Shared(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  if (secretKey.length !== 32) throw new UsageError('x25519 secret key must be 32 bytes');
  if (publicKey.length !== 32) return undefined;
  try {
    return x25519.getSharedSecret(secretKey, publicKey);
  } catch (e) {
    // noble refuses keys whose shared secret is zero; from a descriptor that is just "no match".
    if (e instanceof Error) return undefined;
    throw e;
  }
}

/** CLIENT-ID and COOKIE-KEY = SHAKE-256(subcredential | SECRET_SEED, 40) split 8 | 32. */
export function authClientKeys(subcredential: Uint8Array, secretSeed: Uint8Array): { clientId: Uint8Array; cookieKey: Uint8Array } {
  const keys = shake256(concatBytes(subcredential, secretSeed), { dkLen: CLIENT_ID_LEN + COOKIE_KEY_LEN });
  return { clientId: keys.subarray(0, CLIENT_ID_LEN), cookieKey: keys.subarray(CLIENT_ID_LEN) };
}

/**
 * The client side: with its x25519 secret key, find its auth-client entry and recover the
 * descriptor cookie. Undefined when no entry carries this client's id.
 */
export function recoverDescriptorCookie(
  entries: readonly AuthClientEntry[],
  ephemeralKey: Uint8Array,
  clientSecretKey: Uint8Array,
  subcredential: Uint8Array,
): Uint8Array | undefined {
  const seed = x25519Shared(clientSecretKey, ephemeralKey);
  if (!seed) return undefined;
  const { clientId, cookieKey } = authClientKeys(subcredential, seed);
  const entry = entries.find((e) => equalBytesConstantTime(e.clientId, clientId));
  if (!entry) return undefined;
  return ctr(cookieKey, entry.iv).decrypt(entry.encryptedCookie);
}

/** The service side: an auth-client entry giving `cookie` to the holder of `clientPublicKey`. */
export function makeAuthClientEntry(
  cookie: Uint8Array,
  clientPublicKey: Uint8Array,
  ephemeralSecretKey: Uint8Array,
  subcredential: Uint8Array,
  iv: Uint8Array = randomBytes(AUTH_CLIENT_IV_LEN),
): AuthClientEntry {
  const seed = x25519Shared(ephemeralSecretKey, clientPublicKey);
  if (!seed) throw new UsageError('client authorization key is not a usable x25519 public key');
  const { clientId, cookieKey } = authClientKeys(subcredential, seed);
  return { clientId: clientId.slice(), iv: iv.slice(), encryptedCookie: ctr(cookieKey, iv).encrypt(cookie) };
}

/** A fake entry, indistinguishable from a real one to anyone without a matching client key. */
export function fakeAuthClientEntry(): AuthClientEntry {
  return { clientId: randomBytes(CLIENT_ID_LEN), iv: randomBytes(AUTH_CLIENT_IV_LEN), encryptedCookie: randomBytes(DESCRIPTOR_COOKIE_LEN) };
}

// ---------------------------------------------------------------------------------------------
// Certificates made by a signing callback (the blinded key's secret is an expanded Ed25519 key,
// which plain Ed25519 signing from a seed cannot use; the caller brings its own signer).

/** Signs a message with some Ed25519 key; returns the 64-byte signature. */
export type Ed25519Signer = (message: Uint8Array) => Uint8Array;

/**
 * An Ed25519 certificate (cert-spec) of `certType` on `certifiedKey`, with the signer's public key
 * in a signed-with-ed25519-key extension, as rend-spec requires for types 08, 09 and 0B.
 */
export function makeEd25519Cert(certType: number, certifiedKey: Uint8Array, expires: Date, signerPublicKey: Uint8Array, sign: Ed25519Signer): Ed25519Cert {
  if (certifiedKey.length !== 32 || signerPublicKey.length !== 32) throw new UsageError('certificate keys must be 32 bytes');
  const hours = Math.ceil(expires.getTime() / 3_600_000);
  if (!(hours >= 0 && hours <= 0xffffffff)) throw new UsageError(`certificate expiry ${expires.toISOString()} out of range`);
  const w = new Writer(140).u8(1).u8(certType).u32(hours).u8(CertKeyType.ED25519).bytes(certifiedKey).u8(1);
  w.u16(32).u8(CertExtType.SIGNED_WITH_ED25519_KEY).u8(0).bytes(signerPublicKey);
  const signed = w.finish();
  const signature = sign(signed);
  if (signature.length !== 64) throw new UsageError('signer returned a signature that is not 64 bytes');
  return Ed25519Cert.decode(concatBytes(signed, signature));
}

// ---------------------------------------------------------------------------------------------
// enc-key-cert certifies the Ed25519 form of the service's curve25519 ntor key (rend-spec, via
// proposal 228 appendix A): y = (u - 1) / (u + 1) mod p. C tor makes it with sign bit 0.
export function curve25519ToEd25519Public(u: Uint8Array): Uint8Array | undefined {
  if (u.length !== 32) return undefined;
  try {
    return curve25519ToEd25519(u, 0);
  } catch (e) {
    if (e instanceof ProtocolError) return undefined; // u = -1: no Ed25519 form, so nothing certifies it
    throw e;
  }
}
