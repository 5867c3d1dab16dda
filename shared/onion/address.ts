import { ed25519 } from '@noble/curves/ed25519.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { fromBase32, toBase32, concatBytes, equalBytes, utf8 } from '../bytes/index.ts';
import { TelescopeError, type ErrorKind } from '../util/index.ts';

/**
 * v3 onion addresses (rend-spec-v3 "Encoding onion addresses"):
 *   base32(PUBKEY | CHECKSUM | VERSION) + ".onion",
 *   CHECKSUM = SHA3-256(".onion checksum" | PUBKEY | VERSION)[:2], VERSION = 3.
 * Parsing says precisely what is wrong with a bad address, because a person typed it.
 */

export type OnionAddressProblem = 'not-onion' | 'bad-base32' | 'bad-length' | 'bad-version' | 'bad-checksum' | 'bad-key';

export class OnionAddressError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'onion-address-invalid';
  constructor(readonly problem: OnionAddressProblem, readonly input: string, detail: string) {
    super(`${input.length > 80 ? `${input.slice(0, 77)}...` : input} is not a valid onion address: ${detail}`);
  }
}

export interface OnionAddress {
  /** The service's Ed25519 identity key (32 bytes). */
  readonly publicKey: Uint8Array;
  /** Canonical form: 56 lower-case characters + ".onion". */
  readonly hostname: string;
}

const VERSION = 3;
const ENCODED_LEN = 56;
const CHECKSUM_PREFIX = utf8('.onion checksum');

function checksum(publicKey: Uint8Array, version: number): Uint8Array {
  return sha3_256(concatBytes(CHECKSUM_PREFIX, publicKey, Uint8Array.of(version))).subarray(0, 2);
}

export function encodeOnionAddress(publicKey: Uint8Array): string {
  return `${toBase32(concatBytes(publicKey, checksum(publicKey, VERSION), Uint8Array.of(VERSION)))}.onion`;
}

/**
 * Parse a host name ending in ".onion". Subdomains (`www.<address>.onion`) are allowed, as tor
 * allows them: the service is named by the last label before ".onion".
 */
export function parseOnionAddress(host: string): OnionAddress {
  const lower = host.toLowerCase().replace(/\.$/, '');
  if (!lower.endsWith('.onion')) throw new OnionAddressError('not-onion', host, 'it does not end in .onion');
  const labels = lower.slice(0, -'.onion'.length).split('.');
  const label = labels[labels.length - 1]!;
  if (!/^[a-z2-7]*$/.test(label)) throw new OnionAddressError('bad-base32', host, 'it contains characters other than a-z and 2-7');
  if (label.length !== ENCODED_LEN) {
    throw new OnionAddressError('bad-length', host, `it has ${label.length} characters before .onion; v3 addresses have ${ENCODED_LEN}${label.length === 16 ? ' (16 is a v2 address: v2 onion services no longer exist)' : ''}`);
  }
  const raw = fromBase32(label);
  const publicKey = raw.subarray(0, 32);
  const version = raw[34]!;
  if (version !== VERSION) throw new OnionAddressError('bad-version', host, `it says version ${version}; only version 3 exists`);
  if (!equalBytes(raw.subarray(32, 34), checksum(publicKey, version))) {
    throw new OnionAddressError('bad-checksum', host, 'its checksum does not match (a mistyped character?)');
  }
  // tor (hs_address_is_valid) also refuses a key that is not a point of the prime-order group:
  // such a key cannot be blinded, so no descriptor could ever be found for it.
  if (!isPrimeOrderPoint(publicKey)) throw new OnionAddressError('bad-key', host, 'its key is not a valid Ed25519 public key');
  return { publicKey: publicKey.slice(), hostname: `${label}.onion` };
}

function isPrimeOrderPoint(key: Uint8Array): boolean {
  try {
    return ed25519.Point.fromBytes(key).isTorsionFree();
  } catch {
    return false; // not a point at all (noble throws on a non-canonical or off-curve encoding)
  }
}

/** Whether a host name is meant as an onion address (ends in .onion), valid or not. */
export function isOnionHost(host: string): boolean {
  return /\.onion\.?$/i.test(host);
}
