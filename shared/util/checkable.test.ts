import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CertificateError } from './errors.ts';
import { Timebound, Unverified, type OutsideWindow } from './checkable.ts';

interface Note {
  readonly text: string;
  readonly tag: number;
}

/** A toy document: a note that is good only when its tag is the sum of its character codes mod 256. */
function unverifiedNote(text: string, tag: number): Unverified<Note, [salt: number]> {
  return new Unverified({ text, tag }, (note, salt) => {
    const sum = [...note.text].reduce((n, c) => n + c.charCodeAt(0), salt) & 0xff;
    if (sum !== note.tag) throw new CertificateError('note', `tag ${note.tag} is not ${sum}`);
    return note;
  });
}

describe('Unverified', () => {
  it('shows what was parsed, and gives the document only when its check passes', () => {
    const good = unverifiedNote('ab', (97 + 98 + 1) & 0xff);
    expect(good.unchecked.text).toBe('ab');
    expect(good.check(1)).toEqual({ text: 'ab', tag: 196 });
    const bad = unverifiedNote('ab', 0);
    expect(() => bad.check(1)).toThrow(CertificateError);
    expect(() => bad.check(1)).toThrow(/tag 0 is not 196/);
    // The parsed fields stay readable after a failed check.
    expect(bad.unchecked.tag).toBe(0);
  });

  it('runs the check every time it is asked (a check may depend on its arguments)', () => {
    let runs = 0;
    const u = new Unverified(7, (n: number, limit: number) => {
      runs++;
      if (n > limit) throw new CertificateError('number', `${n} > ${limit}`);
      return n;
    });
    expect(u.check(10)).toBe(7);
    expect(() => u.check(5)).toThrow(CertificateError);
    expect(runs).toBe(2);
  });
});

describe('Timebound', () => {
  const from = new Date('2030-01-01T00:00:00Z');
  const until = new Date('2030-01-02T00:00:00Z');
  const outside = (side: OutsideWindow, now: Date): Error => new CertificateError('window', `${side} at ${now.toISOString()}`);

  it('gives the value inside its window, ends included, and the document\'s error outside', () => {
    const t = new Timebound('v', { notBefore: from, notAfter: until }, outside);
    expect(t.checkValidAt(from)).toBe('v');
    expect(t.checkValidAt(until)).toBe('v');
    expect(() => t.checkValidAt(new Date(from.getTime() - 1))).toThrow(/^window: not-yet-valid at 2029-12-31T23:59:59.999Z$/);
    expect(() => t.checkValidAt(new Date(until.getTime() + 1))).toThrow(/^window: expired at/);
    expect(t.checkValidAt(new Date(until.getTime() + 1000), 1000)).toBe('v');
    expect(t.checkValidAt(new Date(from.getTime() - 1000), 1000)).toBe('v');
    expect(t.isValidAt(new Date(until.getTime() + 1001), 1000)).toBe(false);
    expect(t.dangerouslyAssumeTimely()).toBe('v');
  });

  it('leaves an absent bound open', () => {
    const noStart = new Timebound(1, { notAfter: until }, outside);
    expect(noStart.checkValidAt(new Date(0))).toBe(1);
    const noEnd = new Timebound(1, { notBefore: from }, outside);
    expect(noEnd.checkValidAt(new Date('2400-01-01T00:00:00Z'))).toBe(1);
    expect(new Timebound(1, {}, outside).placeOf(new Date(0))).toBe('valid');
  });

  it('places any time on exactly one side of the window, or inside it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 30 }), fc.integer({ min: 0, max: 2 ** 41 }), fc.nat(10_000), (a, len, t, skew) => {
        const tb = new Timebound(t, { notBefore: new Date(a), notAfter: new Date(a + len) }, outside);
        const place = tb.placeOf(new Date(t), skew);
        const want = t < a - skew ? 'not-yet-valid' : t > a + len + skew ? 'expired' : 'valid';
        expect(place).toBe(want);
        if (want === 'valid') expect(tb.checkValidAt(new Date(t), skew)).toBe(t);
        else expect(() => tb.checkValidAt(new Date(t), skew)).toThrow(want);
      }),
    );
  });
});
