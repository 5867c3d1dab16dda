import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ctr } from '@noble/ciphers/aes.js';
import { BatchedAesCtr, WebCryptoAesCtr, counterBlock } from './aes-ctr.ts';
import { fromHex, toHex } from '../bytes/index.ts';

/** The reference: one CTR call over the whole stream from a zero IV. */
function reference(key: Uint8Array, data: Uint8Array): Uint8Array {
  return ctr(key, new Uint8Array(16)).encrypt(data);
}

const splits = fc.array(fc.integer({ min: 0, max: 1500 }), { minLength: 1, maxLength: 12 });

describe('AES-128-CTR keystreams', () => {
  it('NIST SP 800-38A F.5.1 (CTR-AES128.Encrypt), first block', () => {
    const key = fromHex('2b7e151628aed2a6abf7158809cf4f3c');
    const iv = fromHex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
    const out = ctr(key, iv).encrypt(fromHex('6bc1bee22e409f96e93d7e117393172a'));
    expect(toHex(out)).toBe('874d6191b620e3261bef6864990db6ce');
    expect(toHex(counterBlock(0x0102))).toBe('00000000000000000000000000000102');
  });

  it('batched keystream equals one long CTR stream for any split and batch size', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), splits, fc.integer({ min: 1, max: 8 }), (key, lens, batchBlocks) => {
        const total = lens.reduce((a, b) => a + b, 0);
        const data = new Uint8Array(total).map((_, i) => i * 7);
        const c = new BatchedAesCtr(key, batchBlocks * 16);
        const out = data.slice();
        let off = 0;
        for (const n of lens) {
          c.apply(out, off, n);
          off += n;
        }
        expect(toHex(out)).toBe(toHex(reference(key, data)));
        expect(c.position).toBe(total);
      }),
      { numRuns: 150 },
    );
  });

  it('WebCrypto prefetching agrees with the synchronous path, prefetched or not', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 16, maxLength: 16 }), splits, fc.array(fc.boolean(), { maxLength: 12 }), async (key, lens, prefetchAt) => {
        const total = lens.reduce((a, b) => a + b, 0);
        const data = new Uint8Array(total).map((_, i) => i * 13);
        const c = new WebCryptoAesCtr(key, 2, 64);
        const out = data.slice();
        let off = 0;
        for (let i = 0; i < lens.length; i++) {
          if (prefetchAt[i]) await c.prefetch();
          c.apply(out, off, lens[i]!);
          off += lens[i]!;
        }
        expect(toHex(out)).toBe(toHex(reference(key, data)));
      }),
      { numRuns: 60 },
    );
  });
});
