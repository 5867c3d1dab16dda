import { describe, expect, it } from 'vitest';
import { UsageError } from '../util/index.ts';
import { ReplayCache } from './replay-cache.ts';

describe('ReplayCache', () => {
  it('accepts a request once and recognises it again', () => {
    const c = new ReplayCache(4);
    const k = ReplayCache.keyOf(Uint8Array.of(1, 2, 3));
    expect(c.has(k)).toBe(false);
    expect(c.add(k)).toBe(true);
    expect(c.has(k)).toBe(true);
    expect(c.add(k)).toBe(false);
    expect(c.has(ReplayCache.keyOf(Uint8Array.of(1, 2, 4)))).toBe(false);
  });

  it('stops accepting when full instead of forgetting (a forgotten entry could be replayed)', () => {
    const c = new ReplayCache(3);
    for (let i = 0; i < 3; i++) expect(c.add(ReplayCache.keyOf(Uint8Array.of(i)))).toBe(true);
    expect(c.full).toBe(true);
    expect(c.add(ReplayCache.keyOf(Uint8Array.of(9)))).toBe(false);
    expect(c.has(ReplayCache.keyOf(Uint8Array.of(0)))).toBe(true);
    expect(() => new ReplayCache(0)).toThrow(UsageError);
  });
});
