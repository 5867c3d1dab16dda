import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError, TelescopeError } from '../util/index.ts';
import { defaultExitPolicy } from './builder.ts';
import { ExitPolicy } from './exit-policy.ts';
import { parseExitPolicy } from './parse.ts';
import { summarize } from './summary.ts';
import { ruleArb } from './fixtures/rule-arbitrary.ts';
import vec from './fixtures/exit-policy-vectors.json';

/** "1.2.3.4:80" or "[::1]:80" into address text and port. */
function hostPort(s: string): [string, number] {
  const colon = s.lastIndexOf(':');
  return [s.slice(0, colon), Number(s.slice(colon + 1))];
}

describe('address patterns (arti addrpolicy.rs examples)', () => {
  // tor writes a /0 as a wildcard and splits "*" into one rule per family.
  const torForm: Record<string, string[]> = {
    '127.0.0.0/0:443': ['*4:443'],
    '[::]/0:443': ['*6:443'],
    '*:443': ['*4:443', '*6:443'],
  };
  it.each(vec.arti_match_examples.pattern_roundtrip)('%s', (input, output) => {
    const lines = parseExitPolicy(`accept ${input}`).toLines();
    expect(lines).toEqual((torForm[input] ?? [output]).map((p) => `accept ${p}`));
  });

  it.each(vec.arti_match_examples.pattern_invalid)('refuses %s', (input) => {
    expect(() => parseExitPolicy(`accept ${input}`)).toThrow(ProtocolError);
  });

  it('matches addresses and ports', () => {
    for (const m of vec.arti_match_examples.pattern_matches) {
      const p = parseExitPolicy(`accept ${m.pattern}`);
      for (const hp of m.match) expect(p.firstMatch(...hostPort(hp)), `${m.pattern} ~ ${hp}`).toBeDefined();
      for (const hp of m.no_match) expect(p.firstMatch(...hostPort(hp)), `${m.pattern} !~ ${hp}`).toBeUndefined();
    }
  });

  it('lets the first matching rule decide, and accepts when none matches', () => {
    const ex = vec.arti_match_examples.policy_first_match;
    const p = parseExitPolicy(ex.rules);
    for (const [hp, want] of ex.queries) {
      const [addr, port] = hostPort(hp!);
      const rule = p.firstMatch(addr, port);
      expect(rule?.action ?? 'no rule matched').toBe(want);
      expect(p.evaluate(addr, port)).toBe(want === 'reject' ? 'rejected' : 'accepted');
    }
  });
});

describe('router descriptor lines (test_dump_exit_policy_to_string)', () => {
  it.each(vec.router_dump_exit_policy_to_string_examples.steps.map((s) => [s.dump.replace(/\n/g, ' | '), s] as const))(
    '%s',
    (_name, step) => {
      const p = parseExitPolicy(step.rules, { syntax: 'descriptor' });
      expect(p.descriptorLines({ includeIpv6: true }).join('\n')).toBe(step.dump);
    },
  );

  it('publishes IPv4 rules only by default, with "*" for wildcards', () => {
    const p = defaultExitPolicy({ ipv6Exit: true, rejectPrivate: false });
    const lines = p.descriptorLines();
    expect(lines[0]).toBe('reject *:25');
    expect(lines.at(-1)).toBe('accept *:*');
    expect(lines.some((l) => l.startsWith('accept6') || l.startsWith('reject6'))).toBe(false);
    expect(parseExitPolicy(lines, { syntax: 'descriptor' }).rules.every((r) => r.family === 4)).toBe(true);
  });

  it('reads "*" as IPv4 only in descriptors, and refuses *4/*6 there', () => {
    expect(parseExitPolicy('accept *:80', { syntax: 'descriptor' }).toLines()).toEqual(['accept *4:80']);
    expect(parseExitPolicy('accept6 *:80', { syntax: 'descriptor' }).toLines()).toEqual(['accept *6:80']);
    expect(() => parseExitPolicy('accept *4:80', { syntax: 'descriptor' })).toThrow(ProtocolError);
  });
});

describe('rule syntax', () => {
  const lines = (s: string): string[] => parseExitPolicy(s).toLines();

  it('reads masks as bits or dotted prefixes, and ports as *, N or N-M', () => {
    expect(lines('reject 10.0.0.0/255.0.0.0:80-90')).toEqual(['reject 10.0.0.0/8:80-90']);
    expect(lines('reject 10.0.0.0/255.255.255.255')).toEqual(['reject 10.0.0.0:*']);
    expect(lines('reject 10.0.0.0/0.0.0.0:22')).toEqual(['reject *4:22']);
    expect(lines('accept [2001:DB8::]/32:443')).toEqual(['accept [2001:db8::]/32:443']);
    expect(lines('accept6 [::ffff:1.2.3.4]:*')).toEqual(['accept [::ffff:1.2.3.4]:*']);
    expect(lines('  ACCEPT\t*:1-65535 ,, reject *:*  ')).toEqual(['accept *4:*', 'accept *6:*', 'reject *4:*', 'reject *6:*']);
    expect(() => parseExitPolicy('reject 10.0.0.0/255.0.255.0:80')).toThrow(/not a prefix/);
    expect(() => parseExitPolicy('reject 10.0.0.0/33')).toThrow(/too long/);
    expect(() => parseExitPolicy('reject *:90-80')).toThrow(/backwards/);
    expect(() => parseExitPolicy('reject *:65536')).toThrow(/out of range/);
    expect(() => parseExitPolicy('reject */8:80')).toThrow(/wildcard takes no mask/);
    expect(() => parseExitPolicy('reject 2001:db8::1:80')).toThrow(/brackets/);
    expect(() => parseExitPolicy('allow *:80')).toThrow(ProtocolError);
    expect(() => parseExitPolicy('accept *:80 extra')).toThrow(ProtocolError);
  });

  it('expands * to both families, *4 and *6 to one, accept6/reject6 to IPv6 only', () => {
    expect(lines('accept *:80')).toEqual(['accept *4:80', 'accept *6:80']);
    expect(lines('reject6 *:*')).toEqual(['reject *6:*']);
    expect(lines('accept *6:443,accept *4:80')).toEqual(['accept *6:443', 'accept *4:80']);
    expect(() => parseExitPolicy('accept6 1.2.3.4:80')).toThrow(/IPv6 address/);
    expect(() => parseExitPolicy('accept6 *4:80')).toThrow(/IPv6 address/);
  });

  it('expands private into every private network of both families', () => {
    expect(lines('reject private:25')).toEqual(
      vec.private_nets_rejected_by_ExitPolicyRejectPrivate.map((n) => `reject ${n}:25`),
    );
    expect(parseExitPolicy('accept6 private:*').rules).toHaveLength(12);
  });

  it('raises port 0 to 1, and a rule for port 0 alone matches nothing', () => {
    expect(lines('accept *4:0-80')).toEqual(['accept *4:1-80']);
    expect(lines('accept *4:0')).toEqual([]);
  });
});

const tokenText = fc
  .array(
    fc.constantFrom('accept', 'reject', 'accept6', 'reject6', ' ', '\t', '*', '*4', '*6', 'private', '[', ']', ':', '/',
      '-', ',', '\n', '1.2.3.4', '::1', 'fe80::', '0', '80', '65535', '99999', '255.255.0.0', '32', '129', 'x'),
    { maxLength: 30 },
  )
  .map((parts) => parts.join(''));

describe('properties', () => {
  it('any text gives a policy or a TelescopeError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), tokenText), fc.constantFrom('torrc' as const, 'descriptor' as const), (s, syntax) => {
        try {
          const p = parseExitPolicy(s, { syntax });
          expect(p).toBeInstanceOf(ExitPolicy);
          summarize(p, 4);
          summarize(p, 6);
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a policy reads back from its torrc and descriptor forms', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { minLength: 1, maxLength: 12 }), (rules) => {
        const p = new ExitPolicy(rules);
        expect(parseExitPolicy(p.toString()).rules).toEqual(p.rules);
        expect(parseExitPolicy(p.toLines()).rules).toEqual(p.rules);
        const desc = parseExitPolicy(p.descriptorLines({ includeIpv6: true }), { syntax: 'descriptor' });
        expect(desc.rules).toEqual(p.rules);
      }),
    );
  });
});
