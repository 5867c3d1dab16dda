import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { exitPolicyFromConfig, type ExitPolicyConfig } from './builder.ts';
import { ExitPolicy } from './exit-policy.ts';
import { parseExitPolicy } from './parse.ts';
import { parsePortPolicy } from './port-policy.ts';
import { summarize } from './summary.ts';
import { ruleArb } from './fixtures/rule-arbitrary.ts';
import vec from './fixtures/exit-policy-vectors.json';

/** Every combination of the options tor's test runs each summary case under. */
function configCombos(policy: string): { config: ExitPolicyConfig; ipv6Exit: boolean }[] {
  const out: { config: ExitPolicyConfig; ipv6Exit: boolean }[] = [];
  for (const ipv6Exit of [false, true]) {
    for (const rejectPrivate of [false, true]) {
      for (const tail of ['default', 'reduced', 'bridge'] as const) {
        out.push({
          ipv6Exit,
          config: {
            exitPolicy: [policy],
            exitRelay: true,
            ipv6Exit,
            rejectPrivate,
            reducedExitPolicy: tail === 'reduced',
            bridgeRelay: tail === 'bridge',
          },
        });
      }
    }
  }
  return out;
}

describe('exit policy summaries (tor test_policy.c vectors)', () => {
  const cases = vec.policy_summary.cases_same_for_v4_v6.map((c) => ({
    // The one case without a policy string is built by a loop in tor's test: accept even ports.
    policy:
      c.policy ??
      [...Array.from({ length: 500 }, (_, i) => `accept *:${2 * (i + 1)}`), 'reject *:*'].join(','),
    v4: c.summary_ipv4_and_ipv6,
    v6: c.summary_ipv4_and_ipv6,
  }));
  for (const c of vec.policy_summary.cases_v4_v6_differ) cases.push({ policy: c.policy, v4: c.summary_ipv4, v6: c.summary_ipv6 });

  it.each(cases.map((c) => [c.policy.slice(0, 70), c] as const))('%s', (_name, c) => {
    for (const { config, ipv6Exit } of configCombos(c.policy)) {
      const policy = exitPolicyFromConfig(config);
      expect(summarize(policy, 4).toString()).toBe(c.v4);
      // Without IPv6Exit every IPv6 destination is rejected, so only then is p6 the vector's.
      expect(summarize(policy, 6).toString()).toBe(ipv6Exit ? c.v6 : 'reject 1-65535');
    }
    // The bare rules (no ExitPolicyRejectPrivate, nothing appended) summarize the same way.
    expect(summarize(parseExitPolicy(c.policy), 4).toString()).toBe(c.v4);
    expect(summarize(parseExitPolicy(c.policy), 6).toString()).toBe(c.v6);
    // Every summary reads back as itself and fits the 1000-character limit.
    expect(parsePortPolicy(c.v4).toString()).toBe(c.v4);
    expect(c.v4.length).toBeLessThanOrEqual(1000);
  });

  it('short policies drop items they do not recognize (parse_short_policy/write_short_policy)', () => {
    for (const c of vec.short_policy_parse_roundtrip.cases) {
      expect(parsePortPolicy(c.input).toString()).toBe(c.expected_output);
    }
  });
});

describe('properties', () => {
  it('for wildcard-only policies the summary answers exactly like the policy', () => {
    const wildRule = ruleArb.map((r) => ({ ...r, family: 4 as const, address: new Uint8Array(4), maskBits: 0 }));
    fc.assert(
      fc.property(fc.array(wildRule, { maxLength: 15 }), fc.boolean(), fc.integer({ min: 1, max: 65535 }), (rules, last, port) => {
        const p = new ExitPolicy([...rules, { action: last ? 'accept' : 'reject', family: 4, address: new Uint8Array(4), maskBits: 0, portMin: 1, portMax: 65535 }]);
        const s = summarize(p);
        expect(s.allowsPort(port)).toBe(p.allows('8.8.8.8', port));
        expect(s.toString().length).toBeLessThanOrEqual(1000);
        expect(parsePortPolicy(s.toString())).toEqual(s);
      }),
    );
  });

  it('summaries of any policy fit 1000 characters and read back', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { maxLength: 40 }), fc.constantFrom(4 as const, 6 as const), (rules, family) => {
        const s = summarize(new ExitPolicy(rules), family);
        expect(s.toString().length).toBeLessThanOrEqual(1000);
        expect(parsePortPolicy(s.toString()).toString()).toBe(s.toString());
      }),
    );
  });
});
