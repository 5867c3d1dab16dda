import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { UsageError } from '../util/index.ts';

/**
 * KDF-TOR (tor-spec "KDF-TOR"): K = SHA1(K0 | [00]) | SHA1(K0 | [01]) | ... truncated to `length`.
 * Only CREATE_FAST (and the retired TAP) use it; at most 256 blocks can be produced.
 */
export function kdfTor(k0: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 256 * 20) {
    throw new UsageError(`KDF-TOR: cannot produce ${length} bytes (at most ${256 * 20})`);
  }
  const out = new Uint8Array(length);
  const input = new Uint8Array(k0.length + 1);
  input.set(k0);
  for (let i = 0, off = 0; off < length; i++, off += 20) {
    input[k0.length] = i;
    const block = sha1(input);
    out.set(block.subarray(0, Math.min(20, length - off)), off);
  }
  return out;
}

/** HKDF-SHA256 (RFC 5869): extract with `salt`, expand with `info` to `length` bytes. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * 32) {
    throw new UsageError(`HKDF-SHA256: cannot produce ${length} bytes (at most ${255 * 32})`);
  }
  return hkdf(sha256, ikm, salt, info, length);
}
