import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError, TelescopeError, UsageError } from '../util/index.ts';
import { PortPolicy, parsePortPolicy } from './port-policy.ts';

describe('port policies', () => {
  it('parses p, p6 and ipv6-policy lines and answers per port', () => {
    const p = parsePortPolicy('p accept 80,443,1000-2000');
    expect(p.accept).toBe(true);
    expect(p.ranges).toEqual([{ min: 80, max: 80 }, { min: 443, max: 443 }, { min: 1000, max: 2000 }]);
    expect([79, 80, 443, 999, 1000, 1500, 2000, 2001, 0].map((x) => p.allowsPort(x))).toEqual([
      false, true, true, false, true, true, true, false, false,
    ]);
    const r = parsePortPolicy('p6 reject 1-65535\n');
    expect(r.rejectsAll()).toBe(true);
    expect(r.allowsPort(443)).toBe(false);
    const some = parsePortPolicy('ipv6-policy reject 25,119');
    expect(some.allowsPort(25)).toBe(false);
    expect(some.allowsPort(80)).toBe(true);
    expect(some.rejectsAll()).toBe(false);
    expect(parsePortPolicy('reject 1000-65535,1-999').rejectsAll()).toBe(true);
    expect(PortPolicy.REJECT_ALL.toString()).toBe('reject 1-65535');
  });

  it('refuses summaries tor refuses', () => {
    for (const bad of ['accept', 'accept ', 'allow 80', 'accept 0', 'accept 65536', 'accept 80-70', 'accept 80-',
      'accept 80x', 'accept 1,2,fred,3-', 'reject 99999999999999999999', 'accept fred', 'p accept ,,,']) {
      expect(() => parsePortPolicy(bad), bad).toThrow(ProtocolError);
    }
    const tooMany = `accept ${Array.from({ length: 1001 }, (_, i) => i + 1).join(',')}`;
    expect(() => parsePortPolicy(tooMany)).toThrow(/too many/);
  });

  it('refuses malformed ranges handed to the constructor', () => {
    expect(() => new PortPolicy(true, [])).toThrow(UsageError);
    expect(() => new PortPolicy(true, [{ min: 0, max: 1 }])).toThrow(UsageError);
    expect(() => new PortPolicy(true, [{ min: 5, max: 4 }])).toThrow(UsageError);
  });
});

describe('properties', () => {
  it('port policies read back from their text', () => {
    const range = fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 })).map(([a, b]) => ({ min: Math.min(a, b), max: Math.max(a, b) }));
    fc.assert(
      fc.property(fc.boolean(), fc.array(range, { minLength: 1, maxLength: 50 }), (accept, ranges) => {
        const p = new PortPolicy(accept, ranges);
        expect(parsePortPolicy(p.toString())).toEqual(p);
        expect(parsePortPolicy(`p6 ${p.toString()}`)).toEqual(p);
      }),
    );
  });

  it('any text gives a port policy or a TelescopeError', () => {
    const summaryText = fc
      .array(fc.constantFrom('accept ', 'reject ', 'p ', '1', '80', '-', ',', '65535', '65536', '0', 'x', ' '), { maxLength: 20 })
      .map((a) => a.join(''));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), summaryText), (s) => {
        try {
          const p = parsePortPolicy(s);
          expect(p).toBeInstanceOf(PortPolicy);
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
