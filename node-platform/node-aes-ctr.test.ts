import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { nodeAesCtr } from './node-aes-ctr.ts';
import { nobleAesCtr } from '../shared/crypto/index.ts';
import { toHex } from '../shared/bytes/index.ts';

describe('node:crypto AES-128-CTR engine', () => {
  it('produces the same continuing keystream as the core\'s engine for any split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.array(fc.integer({ min: 0, max: 1200 }), { maxLength: 10 }), (key, lens) => {
        const a = nodeAesCtr(key);
        const b = nobleAesCtr(key);
        for (const n of lens) {
          const x = new Uint8Array(n).fill(n & 0xff);
          const y = x.slice();
          a.apply(x);
          b.apply(y);
          expect(toHex(x)).toBe(toHex(y));
        }
      }),
      { numRuns: 100 },
    );
  });
});
