import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha1 as nobleSha1 } from '@noble/hashes/legacy.js';
import { toHex, utf8 } from '../bytes/index.ts';
import { Sha1, Sha1State, sha1Digest } from './sha1.ts';

describe('Sha1', () => {
  it('known answers (FIPS 180 examples)', () => {
    expect(toHex(sha1Digest(utf8('abc')))).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
    expect(toHex(sha1Digest(new Uint8Array(0)))).toBe('da39a3ee5e6b4b0d3255bfef95601890afd80709');
    expect(toHex(sha1Digest(utf8('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe('84983e441c3bd26ebaae4aa1f95129e5e54670f1');
    expect(toHex(sha1Digest(utf8('A'.repeat(20))))).toBe('ebd3d4adf97066c84b8ed17d6bd1e270818763e0');
  });

  it('agrees with @noble/hashes for any split of any input, reading digests along the way', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (chunks) => {
        const h = new Sha1();
        const seen: number[] = [];
        for (const c of chunks) {
          h.update(c);
          seen.push(...c);
          expect(toHex(h.digest())).toBe(toHex(nobleSha1(Uint8Array.from(seen))));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('save/restore rolls the running state back exactly', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ minLength: 1, maxLength: 600 }), fc.uint8Array({ maxLength: 100 }), (a, b, c) => {
        const h = new Sha1().update(a);
        const state = new Sha1State();
        h.saveTo(state);
        h.update(b);
        h.restoreFrom(state);
        h.update(c);
        expect(toHex(h.digest())).toBe(toHex(nobleSha1(Uint8Array.from([...a, ...c]))));
        const k = h.clone().update(b);
        expect(toHex(k.digest())).toBe(toHex(nobleSha1(Uint8Array.from([...a, ...c, ...b]))));
      }),
      { numRuns: 200 },
    );
  });

  it('hashes a sub-range of a buffer', () => {
    const buf = utf8('xxabcxx');
    expect(toHex(new Sha1().update(buf, 2, 3).digest())).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
  });
});
