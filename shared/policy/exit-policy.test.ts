import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError, TelescopeError, UsageError } from '../errors.ts';
import {
  DEFAULT_EXIT_POLICY,
  ExitPolicy,
  PRIVATE_NETWORKS,
  PortPolicy,
  defaultExitPolicy,
  exitPolicyFromConfig,
  parseExitPolicy,
  parsePortPolicy,
  summarize,
  type ExitPolicyConfig,
  type ExitPolicyRule,
} from './exit-policy.ts';
import vec from './fixtures/exit-policy-vectors.json';

/** "1.2.3.4:80" or "[::1]:80" into address text and port. */
function hostPort(s: string): [string, number] {
  const colon = s.lastIndexOf(':');
  return [s.slice(0, colon), Number(s.slice(colon + 1))];
}

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

describe('default exit policy and ExitPolicyRejectPrivate', () => {
  it('is tor\'s default policy', () => {
    expect(DEFAULT_EXIT_POLICY).toBe(vec.DEFAULT_EXIT_POLICY);
    const bare = defaultExitPolicy({ rejectPrivate: false, ipv6Exit: true });
    expect(bare.toString()).toBe(parseExitPolicy(vec.DEFAULT_EXIT_POLICY).toString());
    expect(summarize(bare).toString()).toBe('reject 25,119,135-139,445,563,1214,4661-4666,6346-6429,6699,6881-6999');
  });

  it('lists tor\'s private networks, in tor\'s order', () => {
    expect([...PRIVATE_NETWORKS]).toEqual(vec.private_nets_rejected_by_ExitPolicyRejectPrivate);
  });

  it('rejects IPv6, then private networks, then the default ports, then accepts IPv4', () => {
    expect(defaultExitPolicy().toLines()).toEqual([
      'reject *6:*',
      'reject 0.0.0.0/8:*',
      'reject 169.254.0.0/16:*',
      'reject 127.0.0.0/8:*',
      'reject 192.168.0.0/16:*',
      'reject 10.0.0.0/8:*',
      'reject 172.16.0.0/12:*',
      ...vec.DEFAULT_EXIT_POLICY.split(',').map((r) => r.replace('*:', '*4:')),
    ]);
  });

  it('answers for known addresses', () => {
    const p = defaultExitPolicy();
    expect(p.allows('8.8.8.8', 443)).toBe(true);
    expect(p.allows('8.8.8.8', 25)).toBe(false);
    expect(p.allows('8.8.8.8', 6900)).toBe(false);
    expect(p.allows('8.8.8.8', 7000)).toBe(true);
    expect(p.allows('8.8.8.8', 0)).toBe(false);
    expect(p.allows('2001:db8::1', 443)).toBe(false); // IPv6Exit is off by default
    expect(p.allows(new Uint8Array([93, 184, 216, 34]), 80)).toBe(true);
    for (const net of vec.private_nets_rejected_by_ExitPolicyRejectPrivate) {
      const addr = net.slice(0, net.lastIndexOf('/'));
      expect(p.allows(addr, 80)).toBe(false);
      expect(defaultExitPolicy({ rejectPrivate: false }).allows(addr, 80)).toBe(!addr.startsWith('['));
    }
    const v6 = defaultExitPolicy({ ipv6Exit: true });
    expect(v6.allows('[2001:db8::1]', 443)).toBe(true);
    expect(v6.allows('2001:db8::1', 25)).toBe(false);
    expect(v6.allows('fe80::1', 443)).toBe(false);
    expect(v6.allows('::1', 443)).toBe(false);
  });

  it('rejects the relay\'s own public addresses under ExitPolicyRejectPrivate', () => {
    const p = exitPolicyFromConfig({ exitRelay: true, relayAddresses: ['203.0.113.5', '192.168.1.1', '2001:db8::5'] });
    expect(p.allows('203.0.113.5', 80)).toBe(false);
    expect(p.allows('203.0.113.6', 80)).toBe(true);
    expect(p.toLines().filter((l) => l.includes('203.0.113'))).toEqual(['reject 203.0.113.5:*']);
    // Private addresses are covered already; IPv6 ones only appear when IPv6 exits are on.
    expect(p.toLines().some((l) => l.includes('192.168.1.1') || l.includes('2001:db8'))).toBe(false);
    const v6 = exitPolicyFromConfig({ exitRelay: true, ipv6Exit: true, relayAddresses: ['2001:db8::5'] });
    expect(v6.toLines()).toContain('reject [2001:db8::5]:*');
    const off = exitPolicyFromConfig({ exitRelay: true, rejectPrivate: false, relayAddresses: ['203.0.113.5'] });
    expect(off.allows('203.0.113.5', 80)).toBe(true);
  });
});

describe('exitPolicyFromConfig', () => {
  it('is "reject *:*" for a relay that is no exit', () => {
    for (const config of [{}, { exitRelay: false, exitPolicy: 'accept *:*' }, { rejectPrivate: false }]) {
      const p = exitPolicyFromConfig(config);
      expect(p.toLines()).toEqual(['reject *4:*', 'reject *6:*']);
      expect(p.rejectsAll(4) && p.rejectsAll(6)).toBe(true);
      expect(summarize(p).toString()).toBe('reject 1-65535');
    }
  });

  it('makes ExitRelay auto an exit when an ExitPolicy is given, and drops rules after a catch-all', () => {
    const p = exitPolicyFromConfig({ exitPolicy: ['accept *:80,accept *:443', 'reject *:*'], rejectPrivate: false });
    expect(p.toLines()).toEqual(['reject *6:*', 'accept *4:80', 'accept *4:443', 'reject *4:*']);
    expect(summarize(p).toString()).toBe('accept 80,443');
    expect(p.rejectsAll(6)).toBe(true);
    expect(p.rejectsAll(4)).toBe(false);
  });

  it('appends nothing but a reject for bridges, and the reduced policy on request', () => {
    const bridge = exitPolicyFromConfig({ exitPolicy: 'accept *:80', bridgeRelay: true, rejectPrivate: false, ipv6Exit: true });
    expect(bridge.toLines()).toEqual(['accept *4:80', 'accept *6:80', 'reject *4:*', 'reject *6:*']);
    const reduced = exitPolicyFromConfig({ exitRelay: true, reducedExitPolicy: true });
    expect(reduced.allows('8.8.8.8', 443)).toBe(true);
    expect(reduced.allows('8.8.8.8', 8080)).toBe(true);
    expect(reduced.allows('8.8.8.8', 8081)).toBe(false);
    expect(summarize(reduced).toString()).toMatch(/^accept 20-23,43,53,79-81,88,110,/);
  });

  it('removes rules that can never decide, as tor does before summarizing', () => {
    // Without removal the shadowed /8 would count twice and push port 80 over the two-/8 limit.
    const p = exitPolicyFromConfig({
      exitPolicy: 'reject 1.0.0.0/8:80,reject 0.0.0.0/7:80,accept *:*',
      rejectPrivate: false,
      ipv6Exit: true,
    });
    expect(p.toLines()).toEqual(['reject 0.0.0.0/7:80', 'accept *4:*', 'accept *6:*']);
    expect(summarize(p).toString()).toBe('accept 1-65535');
  });
});

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

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const ruleArb: fc.Arbitrary<ExitPolicyRule> = fc
  .record({
    action: fc.constantFrom('accept' as const, 'reject' as const),
    family: fc.constantFrom(4 as const, 6 as const),
    bytes: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    mask: fc.nat(),
    a: fc.integer({ min: 1, max: 65535 }),
    b: fc.integer({ min: 1, max: 65535 }),
  })
  .map(({ action, family, bytes, mask, a, b }) => {
    const full = family === 4 ? 32 : 128;
    const maskBits = mask % (full + 1);
    const address = maskBits === 0 ? new Uint8Array(full / 8) : bytes.slice(0, full / 8);
    return { action, family, address, maskBits, portMin: Math.min(a, b), portMax: Math.max(a, b) };
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
