import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ListInterner } from './intern.ts';

describe('ListInterner', () => {
  it('gives back an equal list, the same instance for equal lists (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.string({ maxLength: 6 }), { maxLength: 8 }), { maxLength: 30 }), (lists) => {
        const interner = new ListInterner();
        const shared = lists.map((l) => interner.share(l));
        for (const [i, l] of lists.entries()) {
          expect(shared[i]).toEqual(l);
          expect(interner.share([...l])).toBe(shared[i]);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('never conflates lists that agree on length, first, middle and last element', () => {
    const interner = new ListInterner();
    const a = interner.share(['A', 'B', 'C', 'D', 'E']);
    const b = interner.share(['A', 'X', 'C', 'D', 'E']);
    expect(a).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(b).toEqual(['A', 'X', 'C', 'D', 'E']);
    expect(interner.share(['A', 'X', 'C', 'D', 'E'])).toBe(b);
  });

  it('hands out frozen lists, so no holder can change another\'s', () => {
    const interner = new ListInterner();
    expect(Object.isFrozen(interner.share(['a', 'b']))).toBe(true);
    expect(Object.isFrozen(interner.share([]))).toBe(true);
  });
});
