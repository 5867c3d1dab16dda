import { describe, expect, it } from 'vitest';
import { DEFAULT_EXIT_POLICY, defaultExitPolicy, exitPolicyFromConfig } from './builder.ts';
import { parseExitPolicy } from './parse.ts';
import { PRIVATE_NETWORKS } from './rule.ts';
import { summarize } from './summary.ts';
import vec from './fixtures/exit-policy-vectors.json';

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
