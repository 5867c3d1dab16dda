import { describe, expect, it } from 'vitest';
import { runSelfcheck } from './selfcheck.ts';
import { webCryptoAesCtr } from './crypto/index.ts';

describe('in-memory circuit self-check', () => {
  for (const [name, aes] of [['noble AES', undefined], ['WebCrypto AES', webCryptoAesCtr]] as const) {
    it(`builds, uses and tears down a 3-hop circuit (${name})`, async () => {
      const report = await runSelfcheck({ aes });
      expect(report.steps.filter((s) => !s.ok)).toEqual([]);
      expect(report.steps.map((s) => s.name)).toEqual([
        'relays', 'CREATE2 (ntor) to hop 1', 'EXTEND2 to hop 2', 'EXTEND2 to hop 3', 'BEGIN / CONNECTED at hop 3',
        'DATA both ways', 'SENDME v1 digest', 'leaky pipe (DROP to hop 2)', 'tampered cell refused', 'DESTROY',
      ]);
      expect(report.ok).toBe(true);
    });
  }
});
