import { describe, expect, it } from 'vitest';
import { UsageError } from '../shared/util/index.ts';
import { benchCrypto, WORKER_ENGINES } from './bench-crypto.ts';

describe('benchCrypto', () => {
  it('measures every engine both ways (the inbound loop checks the exit recognizes every cell)', async () => {
    const r = await benchCrypto(0.5);
    expect(r.cells).toBe(Math.ceil(0.5e6 / 509));
    expect(r.rows.map((x) => x.engine)).toEqual(WORKER_ENGINES.map((e) => e.name));
    for (const row of r.rows) {
      expect(row.outboundMBps).toBeGreaterThan(0);
      expect(row.inboundMBps).toBeGreaterThan(0);
      expect(Number.isFinite(row.outboundMBps) && Number.isFinite(row.inboundMBps)).toBe(true);
    }
  });

  it('rejects sizes that are not a positive number of megabytes', async () => {
    for (const bad of [0, -1, Number.NaN, Infinity, 1e6, '5' as unknown as number]) {
      await expect(benchCrypto(bad)).rejects.toBeInstanceOf(UsageError);
    }
  });
});
