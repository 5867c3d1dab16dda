import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { nextRevisionCounter } from './revision-counter.ts';

describe('revision counter', () => {
  const start = 1_700_000_000;
  it('is milliseconds since the epoch it is given', () => {
    expect(nextRevisionCounter(start * 1000 + 1234, start)).toBe(1234n);
  });

  it('always goes up, even when uploads come faster than the clock', () => {
    let last: bigint | undefined;
    const t = start * 1000 + 5000;
    for (let i = 0; i < 5; i++) {
      const next = nextRevisionCounter(t, start, last);
      if (last !== undefined) expect(next).toBeGreaterThan(last);
      last = next;
    }
    expect(last).toBe(5004n);
    // A later clock takes over again; a clock before the period start gives 0, then counts up.
    expect(nextRevisionCounter(t + 60_000, start, last)).toBe(65_000n);
    expect(nextRevisionCounter(start * 1000 - 10, start)).toBe(0n);
  });

  it('is monotonic for any sequence of clock readings (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 10 ** 9 }), { minLength: 1, maxLength: 30 }), (times) => {
      let last: bigint | undefined;
      for (const dt of times) {
        const next = nextRevisionCounter(start * 1000 + dt, start, last);
        if (last !== undefined) expect(next > last).toBe(true);
        last = next;
      }
    }));
  });
});
