import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { UsageError } from '../util/index.ts';
import { defaultExitPolicy } from './builder.ts';
import { ExitPolicy } from './exit-policy.ts';
import { parseExitPolicy } from './parse.ts';
import type { ExitPolicyRule } from './rule.ts';
import { ruleArb } from './fixtures/rule-arbitrary.ts';

describe('checks', () => {
  it('refuses malformed rules handed to the constructor', () => {
    const good: ExitPolicyRule = { action: 'accept', family: 4, address: new Uint8Array(4), maskBits: 0, portMin: 1, portMax: 2 };
    expect(() => new ExitPolicy([{ ...good, maskBits: 33 }])).toThrow(UsageError);
    expect(() => new ExitPolicy([{ ...good, address: new Uint8Array(16) }])).toThrow(UsageError);
    expect(() => new ExitPolicy([{ ...good, portMin: 3 }])).toThrow(UsageError);
    expect(() => new ExitPolicy([{ ...good, portMin: 0 }])).toThrow(UsageError);
  });

  it('refuses bad addresses and ports passed to checks', () => {
    const p = defaultExitPolicy();
    expect(() => p.allows('example.com', 80)).toThrow(UsageError);
    expect(() => p.allows('1.2.3.4', 70000)).toThrow(UsageError);
    expect(() => p.allows(new Uint8Array(5), 80)).toThrow(UsageError);
  });
});

describe('unknown addresses (hostname streams)', () => {
  it('follows tor: the first rule covering every address decides, partial rules make it "probably"', () => {
    const narrowAccept = parseExitPolicy('accept 1.2.3.4:80,reject *:*');
    expect(narrowAccept.evaluate(null, 80)).toBe('probably-rejected');
    expect(narrowAccept.allows(null, 80)).toBe(false);
    expect(narrowAccept.allows(null, 80, { chosenExit: true })).toBe(true);
    expect(narrowAccept.evaluate(null, 443)).toBe('rejected');
    expect(narrowAccept.allows(null, 443, { chosenExit: true })).toBe(false);

    const narrowReject = parseExitPolicy('reject 1.2.3.4:80,accept *:*');
    expect(narrowReject.evaluate(null, 80)).toBe('probably-accepted');
    expect(narrowReject.allows(null, 80)).toBe(true);
    expect(narrowReject.evaluate(null, 81)).toBe('accepted');

    expect(parseExitPolicy('reject 1.2.3.4:80').evaluate(null, 80)).toBe('probably-accepted');
    expect(parseExitPolicy('accept 1.2.3.4:80').evaluate(null, 80)).toBe('accepted');
    expect(parseExitPolicy([]).evaluate(null, 80)).toBe('accepted');
  });

  it('reads the IPv4 rules unless told otherwise, since a BEGIN without flags exits over IPv4', () => {
    const p = defaultExitPolicy();
    expect(p.evaluate(null, 443)).toBe('probably-accepted'); // private rejects come first
    expect(p.allows(null, 443)).toBe(true);
    expect(p.allows(null, 25)).toBe(false);
    expect(p.evaluate(null, 443, { families: [4, 6] })).toBe('rejected'); // "reject *6:*" comes first
    expect(p.allows(null, 0)).toBe(false);
  });
});

describe('properties', () => {
  it('first match agrees with a direct scan of the rules', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { maxLength: 12 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 1, max: 65535 }), (rules, addr, port) => {
        const p = new ExitPolicy(rules);
        const hit = rules.find((r) => {
          if (r.family !== 4 || port < r.portMin || port > r.portMax) return false;
          const toInt = (b: Uint8Array): number => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
          const mask = r.maskBits === 0 ? 0 : (0xffffffff << (32 - r.maskBits)) >>> 0;
          return ((toInt(r.address) ^ toInt(addr)) & mask) === 0;
        });
        expect(p.evaluate(addr, port)).toBe(hit === undefined || hit.action === 'accept' ? 'accepted' : 'rejected');
      }),
    );
  });
});
