import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import vectors from './fixtures/onion_address_vectors.json';
import { fromHex, toHex, fromBase32, toBase32 } from '../bytes/index.ts';
import { TelescopeError } from '../util/index.ts';
import { encodeOnionAddress, OnionAddressError, parseOnionAddress } from './address.ts';

describe('v3 onion addresses', () => {
  it('encodes and decodes the vectors', () => {
    for (const v of vectors.valid) {
      expect(encodeOnionAddress(fromHex(v.pubkey_hex))).toBe(v.onion);
      const parsed = parseOnionAddress(v.onion);
      expect(toHex(parsed.publicKey)).toBe(v.pubkey_hex);
      expect(parsed.hostname).toBe(v.onion);
    }
  });

  it('ignores case and takes subdomains as tor does', () => {
    expect(parseOnionAddress(vectors.valid_case_insensitive_example).hostname).toBe(vectors.valid[0]!.onion);
    expect(parseOnionAddress(`www.${vectors.valid[0]!.onion}`).hostname).toBe(vectors.valid[0]!.onion);
  });

  it('says what is wrong with each invalid vector', () => {
    const expected: Record<string, string> = {
      'not .onion domain': 'not-onion',
      'invalid base32': 'bad-base32',
      'wrong length / invalid data': 'bad-length',
      'wrong checksum': 'bad-checksum',
    };
    for (const v of vectors.invalid) {
      if (v.input.startsWith('www.')) continue; // tor (unlike a bare arti HsId) accepts subdomains
      let error: unknown;
      try {
        parseOnionAddress(v.input);
      } catch (e) {
        error = e;
      }
      expect(error, v.input).toBeInstanceOf(OnionAddressError);
      const problem = (error as OnionAddressError).problem;
      if (v.error.startsWith('unsupported version')) expect(problem).toBe('bad-version');
      else if (expected[v.error]) expect(problem, v.input).toBe(expected[v.error]);
    }
  });

  it('names v2 addresses as such', () => {
    expect(() => parseOnionAddress('expyuzz4wqqyqhjn.onion')).toThrow(/v2 onion services no longer exist/);
  });

  it('round-trips any key, and random text never throws anything but a typed error', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
      const key = ed25519.getPublicKey(seed);
      expect(toHex(parseOnionAddress(encodeOnionAddress(key)).publicKey)).toBe(toHex(key));
    }));
    fc.assert(fc.property(fc.string(), (s) => {
      try {
        parseOnionAddress(`${s}.onion`);
      } catch (e) {
        expect(e).toBeInstanceOf(TelescopeError);
      }
    }));
  });

  it('refuses a key that is not a point of the prime-order group, as tor does', () => {
    // The identity point plus a point of order 8: a valid encoding, but torsion.
    const torsion = ed25519.Point.BASE.add(ed25519.Point.fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05')).toBytes();
    expect(() => parseOnionAddress(encodeOnionAddress(torsion))).toThrow(expect.objectContaining({ problem: 'bad-key' }));
  });

  it('base32 round-trips', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      if (b.length % 5 === 0) expect(toHex(fromBase32(toBase32(b)))).toBe(toHex(b));
    }));
  });
});
