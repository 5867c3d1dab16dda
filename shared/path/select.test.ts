import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TelescopeError, UsageError } from '../util/index.ts';
import type { NetRelay } from '../netdir/index.ts';
import {
  DEFAULT_PATH_RULES,
  LONG_LIVED_PORTS,
  NoPathError,
  chooseExit,
  chooseGuardCandidate,
  chooseMiddle,
  choosePath,
  chooseRendezvousPoint,
  hasFlagsFor,
  pickWeighted,
  positionWeight,
  relaysConflict,
  secureUniform,
  type Position,
} from './select.ts';
import { EXIT_FLAGS, GUARD_FLAGS, MIDDLE_FLAGS, fingerprintFor, netDir, relay, seededRandom } from './fixtures/synthetic-netdir.ts';
import { thrown } from '../testing/thrown.ts';

const NO_SUBNETS = { enforceDistinctSubnets: false };

describe('hasFlagsFor', () => {
  it('needs Running and Valid in every position', () => {
    for (const position of ['guard', 'middle', 'exit'] as Position[]) {
      expect(hasFlagsFor(relay({ name: 'a', flags: ['Valid', 'Fast', 'Guard', 'Exit', 'Stable'] }), position)).toBe(false);
      expect(hasFlagsFor(relay({ name: 'a', flags: ['Running', 'Fast', 'Guard', 'Exit', 'Stable'] }), position)).toBe(false);
      expect(hasFlagsFor(relay({ name: 'a', flags: ['Running', 'Valid', 'Fast', 'Guard', 'Exit', 'Stable'] }), position)).toBe(true);
    }
  });

  it('guards need the Guard flag', () => {
    expect(hasFlagsFor(relay({ name: 'g', flags: GUARD_FLAGS }), 'guard')).toBe(true);
    expect(hasFlagsFor(relay({ name: 'm', flags: MIDDLE_FLAGS }), 'guard')).toBe(false);
  });

  it('middles and exits need Fast', () => {
    const slow = relay({ name: 's', flags: ['Running', 'Valid', 'Stable', 'Exit'] });
    expect(hasFlagsFor(slow, 'middle')).toBe(false);
    expect(hasFlagsFor(slow, 'exit')).toBe(false);
    expect(hasFlagsFor(relay({ name: 'f', flags: ['Running', 'Valid', 'Fast'] }), 'middle')).toBe(true);
  });

  it('a BadExit is never an exit, but may be a middle', () => {
    const bad = relay({ name: 'b', flags: [...EXIT_FLAGS, 'BadExit'] });
    expect(hasFlagsFor(bad, 'exit')).toBe(false);
    expect(hasFlagsFor(bad, 'exit', 443)).toBe(false);
    expect(hasFlagsFor(bad, 'middle')).toBe(true);
  });

  it('long-lived ports need Stable', () => {
    const unstable = relay({ name: 'u', flags: ['Running', 'Valid', 'Fast', 'Exit'] });
    expect(LONG_LIVED_PORTS.has(22)).toBe(true);
    expect(LONG_LIVED_PORTS.has(443)).toBe(false);
    expect(hasFlagsFor(unstable, 'exit', 22)).toBe(false);
    expect(hasFlagsFor(unstable, 'exit', 6667)).toBe(false);
    expect(hasFlagsFor(unstable, 'exit', 443)).toBe(true);
    expect(hasFlagsFor(unstable, 'exit')).toBe(true);
    expect(hasFlagsFor(relay({ name: 's', flags: EXIT_FLAGS }), 'exit', 22)).toBe(true);
  });
});

describe('positionWeight (path-spec bandwidth-weights)', () => {
  // Distinct values for every weight so a wrong key shows up.
  const weights = { Wgg: 6000, Wgd: 1000, Wgm: 6100, Wmg: 4000, Wmd: 2000, Wme: 500, Wmm: 10000, Weg: 3000, Wed: 7000, Wee: 9500, Wem: 8000 };
  const dir = netDir([], { weights });
  const guard = relay({ name: 'g', flags: GUARD_FLAGS });
  const exit = relay({ name: 'e', flags: EXIT_FLAGS });
  const both = relay({ name: 'd', flags: [...GUARD_FLAGS, 'Exit'] });
  const plain = relay({ name: 'm', flags: MIDDLE_FLAGS });
  const badExitGuard = relay({ name: 'bg', flags: [...GUARD_FLAGS, 'Exit', 'BadExit'] });

  it('picks the weight for the relay\'s flags and the position', () => {
    const table: [NetRelay, Position, number][] = [
      [guard, 'guard', 0.6], [both, 'guard', 0.1], [plain, 'guard', 0.61], [exit, 'guard', 0],
      [guard, 'middle', 0.4], [both, 'middle', 0.2], [exit, 'middle', 0.05], [plain, 'middle', 1],
      [guard, 'exit', 0.3], [both, 'exit', 0.7], [exit, 'exit', 0.95], [plain, 'exit', 0.8],
    ];
    for (const [r, position, w] of table) expect(positionWeight(dir, r, position), `${r.nickname} as ${position}`).toBeCloseTo(w, 10);
  });

  it('treats a BadExit as not an exit', () => {
    expect(positionWeight(dir, badExitGuard, 'guard')).toBeCloseTo(0.6, 10); // Wgg, not Wgd
    expect(positionWeight(dir, badExitGuard, 'middle')).toBeCloseTo(0.4, 10); // Wmg, not Wmd
  });

  it('is 1 when the consensus has no bandwidth-weights, and a missing weight counts as 1', () => {
    const empty = netDir([]);
    for (const position of ['guard', 'middle', 'exit'] as Position[]) expect(positionWeight(empty, both, position)).toBe(1);
    expect(positionWeight(netDir([], { weights: { Wgg: 5000 } }), exit, 'exit')).toBe(1);
  });

  it('divides by bwweightscale from the consensus params', () => {
    const scaled = netDir([], { weights: { Wgg: 500, Wee: 1000 }, params: { bwweightscale: 1000 } });
    expect(positionWeight(scaled, guard, 'guard')).toBeCloseTo(0.5, 10);
    expect(positionWeight(scaled, exit, 'exit')).toBe(1);
    // A missing weight is the scale itself, i.e. 1.
    expect(positionWeight(scaled, plain, 'middle')).toBe(1);
  });
});

describe('relaysConflict', () => {
  it('a relay conflicts with itself', () => {
    const a = relay({ name: 'a', ip: '1.2.3.4' });
    expect(relaysConflict(a, a, NO_SUBNETS)).toBe(true);
  });

  it('two relays in one /16 conflict only when subnets are enforced', () => {
    const a = relay({ name: 'a', ip: '1.2.3.4' });
    const b = relay({ name: 'b', ip: '1.2.200.9' });
    const c = relay({ name: 'c', ip: '1.3.3.4' });
    expect(relaysConflict(a, b, DEFAULT_PATH_RULES)).toBe(true);
    expect(relaysConflict(a, b, NO_SUBNETS)).toBe(false);
    expect(relaysConflict(a, c, DEFAULT_PATH_RULES)).toBe(false);
  });

  it('family counts only when both relays declare each other', () => {
    const a = relay({ name: 'a', ip: '1.1.1.1', family: ['b'] });
    const b = relay({ name: 'b', ip: '2.2.2.2', family: ['a'] });
    const c = relay({ name: 'c', ip: '3.3.3.3', family: ['a'] }); // a does not list c
    expect(relaysConflict(a, b, DEFAULT_PATH_RULES)).toBe(true);
    expect(relaysConflict(b, a, DEFAULT_PATH_RULES)).toBe(true);
    expect(relaysConflict(a, c, DEFAULT_PATH_RULES)).toBe(false);
    expect(relaysConflict(c, a, DEFAULT_PATH_RULES)).toBe(false);
  });

  it('a shared family id is a conflict', () => {
    const a = relay({ name: 'a', ip: '1.1.1.1', familyIds: ['ed25519:AAAA', 'x'] });
    const b = relay({ name: 'b', ip: '2.2.2.2', familyIds: ['ed25519:AAAA'] });
    const c = relay({ name: 'c', ip: '3.3.3.3', familyIds: ['ed25519:BBBB'] });
    expect(relaysConflict(a, b, NO_SUBNETS)).toBe(true);
    expect(relaysConflict(a, c, NO_SUBNETS)).toBe(false);
  });

  it('is symmetric', () => {
    const names = ['a', 'b', 'c', 'd'];
    fc.assert(
      fc.property(
        fc.array(fc.record({ ip: fc.constantFrom('1.1.1.1', '1.1.9.9', '2.2.2.2'), family: fc.subarray(names), familyIds: fc.subarray(['x', 'y']) }), { minLength: 2, maxLength: 2 }),
        fc.boolean(),
        (specs, enforce) => {
          const [a, b] = specs.map((s, i) => relay({ name: names[i]!, ...s }));
          const rules = { enforceDistinctSubnets: enforce };
          expect(relaysConflict(a!, b!, rules)).toBe(relaysConflict(b!, a!, rules));
        },
      ),
    );
  });
});

describe('pickWeighted', () => {
  it('draws in proportion to the weights', () => {
    const items = ['a', 'b', 'c', 'd'];
    const w: Record<string, number> = { a: 1, b: 2, c: 3, d: 4 };
    const random = seededRandom(42);
    const counts = new Map<string, number>();
    const draws = 40_000;
    for (let i = 0; i < draws; i++) {
      const x = pickWeighted(items, (t) => w[t]!, random)!;
      counts.set(x, (counts.get(x) ?? 0) + 1);
    }
    for (const t of items) expect((counts.get(t) ?? 0) / draws).toBeCloseTo(w[t]! / 10, 1.5);
  });

  it('never picks an item of weight zero (or negative) while others weigh something', () => {
    const random = seededRandom(7);
    for (let i = 0; i < 2000; i++) {
      const x = pickWeighted(['zero', 'neg', 'one'], (t) => (t === 'one' ? 1 : t === 'neg' ? -5 : 0), random);
      expect(x).toBe('one');
    }
  });

  it('falls back to a uniform draw when every weight is zero', () => {
    const items = ['a', 'b', 'c', 'd', 'e'];
    const random = seededRandom(1);
    const counts = new Map<string, number>();
    const draws = 25_000;
    for (let i = 0; i < draws; i++) {
      const x = pickWeighted(items, () => 0, random)!;
      counts.set(x, (counts.get(x) ?? 0) + 1);
    }
    for (const t of items) expect((counts.get(t) ?? 0) / draws).toBeCloseTo(0.2, 1.5);
  });

  it('gives undefined for no items, and the only item for one', () => {
    expect(pickWeighted([], () => 1, seededRandom(3))).toBeUndefined();
    expect(pickWeighted(['x'], () => 0, seededRandom(3))).toBe('x');
  });

  it('handles the edges of the random source', () => {
    expect(pickWeighted(['a', 'b'], () => 1, () => 0)).toBe('a');
    expect(pickWeighted(['a', 'b'], () => 1, () => 1 - 2 ** -53)).toBe('b');
    expect(pickWeighted(['a', 'b', 'c'], (t) => (t === 'c' ? 0 : 1), () => 1 - 2 ** -53)).toBe('b');
  });

  it('always returns one of the items with positive weight (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(1000), { minLength: 1, maxLength: 20 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (weights, u) => {
        const idx = weights.map((_, i) => i);
        const picked = pickWeighted(idx, (i) => weights[i]!, () => u);
        expect(picked).toBeDefined();
        if (weights.some((w) => w > 0)) expect(weights[picked!]!).toBeGreaterThan(0);
      }),
    );
  });

  it('secureUniform stays in [0, 1)', () => {
    for (let i = 0; i < 1000; i++) {
      const x = secureUniform();
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });
});

describe('chooseExit', () => {
  const web = relay({ name: 'web', flags: EXIT_FLAGS, policy: 'accept 80,443' });
  const ssh = relay({ name: 'ssh', flags: EXIT_FLAGS, policy: 'accept 22' });
  const sshUnstable = relay({ name: 'sshu', flags: ['Running', 'Valid', 'Fast', 'Exit'], policy: 'accept 22' });
  const bad = relay({ name: 'bad', flags: [...EXIT_FLAGS, 'BadExit'], policy: 'accept 1-65535', bandwidth: 100_000 });
  const mostly = relay({ name: 'most', flags: EXIT_FLAGS, policy: 'reject 25,119' });
  // Allows 8080 by its summary but has no Exit flag: still usable for that port (as tor does).
  const unflagged = relay({ name: 'unfl', flags: MIDDLE_FLAGS, policy: 'accept 8080' });
  const middle = relay({ name: 'mid', flags: MIDDLE_FLAGS });
  const dir = netDir([web, ssh, sshUnstable, bad, mostly, unflagged, middle]);

  function exitsFor(port: number | undefined, draws = 300): Set<string> {
    const random = seededRandom(port ?? 0);
    const seen = new Set<string>();
    for (let i = 0; i < draws; i++) seen.add(chooseExit(dir, port, { random }).nickname);
    return seen;
  }

  it('only picks relays whose policy summary allows the port', () => {
    expect(exitsFor(443)).toEqual(new Set(['web', 'most']));
    expect(exitsFor(6000)).toEqual(new Set(['most']));
  });

  it('uses relays without the Exit flag when their summary allows the port', () => {
    expect(exitsFor(8080)).toEqual(new Set(['most', 'unfl']));
  });

  it('never picks a BadExit, even one with a huge bandwidth', () => {
    for (const port of [80, 443, 6000, undefined]) expect(exitsFor(port).has('bad')).toBe(false);
  });

  it('needs Stable for long-lived ports', () => {
    expect(exitsFor(22)).toEqual(new Set(['ssh', 'most']));
  });

  it('without a port, picks Exit-flagged relays', () => {
    expect(exitsFor(undefined)).toEqual(new Set(['web', 'ssh', 'sshu', 'most']));
  });

  it('throws NoPathError when no relay exits to the port', () => {
    const e = thrown(() => chooseExit(dir, 25));
    expect(e).toBeInstanceOf(NoPathError);
    expect(e).toBeInstanceOf(TelescopeError);
    expect((e as Error).message).toMatch(/exit for port 25/);
  });

  it('weights exits by bandwidth times Wee', () => {
    const big = relay({ name: 'big', flags: EXIT_FLAGS, policy: 'accept 443', bandwidth: 900 });
    const small = relay({ name: 'small', flags: EXIT_FLAGS, policy: 'accept 443', bandwidth: 100 });
    // As exits, guard+exit relays weigh Wed: make it zero so only the plain exits are drawn.
    const guardExit = relay({ name: 'ge', flags: [...GUARD_FLAGS, 'Exit'], policy: 'accept 443', bandwidth: 5000 });
    const d = netDir([big, small, guardExit], { weights: { Wee: 10000, Wed: 0 } });
    const random = seededRandom(5);
    let bigCount = 0;
    const draws = 10_000;
    for (let i = 0; i < draws; i++) {
      const r = chooseExit(d, 443, { random });
      expect(r.nickname).not.toBe('ge');
      if (r === big) bigCount++;
    }
    expect(bigCount / draws).toBeCloseTo(0.9, 1.5);
  });
});

describe('choosing middles and guard candidates', () => {
  it('chooseGuardCandidate only returns Guard-flagged relays', () => {
    const dir = netDir([relay({ name: 'g1', flags: GUARD_FLAGS }), relay({ name: 'm1', flags: MIDDLE_FLAGS }), relay({ name: 'e1', flags: EXIT_FLAGS })]);
    const random = seededRandom(9);
    for (let i = 0; i < 200; i++) expect(chooseGuardCandidate(dir, { random }).nickname).toBe('g1');
  });

  it('chooseMiddle avoids relays that conflict with those already chosen', () => {
    const a = relay({ name: 'a', ip: '5.5.1.1' });
    const b = relay({ name: 'b', ip: '5.5.2.2' }); // same /16 as a
    const c = relay({ name: 'c', ip: '6.6.6.6', family: ['a'] });
    const aFam = relay({ name: 'a', ip: '5.5.1.1', family: ['c'] });
    const d = relay({ name: 'd', ip: '7.7.7.7' });
    const random = seededRandom(11);
    for (let i = 0; i < 200; i++) {
      const m = chooseMiddle(netDir([aFam, b, c, d]), { random, avoid: [aFam] });
      expect(m.nickname).toBe('d');
      expect(chooseMiddle(netDir([a, b, d]), { random, avoid: [a], rules: NO_SUBNETS }).nickname).not.toBe('a');
    }
  });
});

describe('protocols a position needs (the relay\'s pr line)', () => {
  const oldRelay = 'Cons=1-2 Desc=1-2 DirCache=1 HSDir=1-2 HSIntro=3-5 HSRend=1-2 Link=1-5 Microdesc=1-2 Relay=1';
  const noRend = 'Cons=1-2 Desc=1-2 Link=4-5 LinkAuth=3 Microdesc=1-2 Relay=2';

  it('a relay without Relay=2 is never extended to: never a middle, an exit or a rendezvous point', () => {
    const dir = netDir([
      relay({ name: 'old-mid', flags: MIDDLE_FLAGS, bandwidth: 1e6, protocols: oldRelay }),
      relay({ name: 'old-exit', flags: EXIT_FLAGS, bandwidth: 1e6, protocols: oldRelay, policy: 'accept 80' }),
      relay({ name: 'mid', flags: MIDDLE_FLAGS }),
      relay({ name: 'exit', flags: EXIT_FLAGS, policy: 'accept 80' }),
    ]);
    const random = seededRandom(21);
    for (let i = 0; i < 200; i++) {
      expect(chooseMiddle(dir, { random }).nickname).not.toMatch(/^old/);
      expect(chooseExit(dir, 80, { random }).nickname).toBe('exit');
      expect(chooseRendezvousPoint(dir, { random }).nickname).not.toMatch(/^old/);
    }
  });

  it('a rendezvous point advertises HSRend=2; a middle need not', () => {
    const dir = netDir([relay({ name: 'bridge-like', flags: MIDDLE_FLAGS, bandwidth: 1e6, protocols: noRend }), relay({ name: 'tor', flags: MIDDLE_FLAGS })]);
    const random = seededRandom(22);
    const middles = new Set<string>();
    for (let i = 0; i < 200; i++) {
      expect(chooseRendezvousPoint(dir, { random }).nickname).toBe('tor');
      middles.add(chooseMiddle(dir, { random }).nickname);
    }
    // It has almost all the bandwidth: as a middle it is chosen.
    expect(middles.has('bridge-like')).toBe(true);
  });

  it('a guard candidate is not asked for protocols (it is reached directly, bridges advertise none)', () => {
    const dir = netDir([relay({ name: 'g', flags: GUARD_FLAGS, protocols: '' })]);
    expect(chooseGuardCandidate(dir).nickname).toBe('g');
  });

  it('says so when relays had the flags but not the protocols', () => {
    const dir = netDir([relay({ name: 'm1', flags: MIDDLE_FLAGS, protocols: noRend }), relay({ name: 'm2', flags: MIDDLE_FLAGS, protocols: oldRelay })]);
    const e = thrown(() => chooseRendezvousPoint(dir)) as NoPathError;
    expect(e).toBeInstanceOf(NoPathError);
    expect(e.shortfall).toEqual({ eligible: 0, lacksProtocols: 2, excluded: 0, onPath: 0, sameFamily: 0, sameSubnet: 0 });
    expect(e.message).toBe('no usable rendezvous point among 2 relays: 2 have the flags a middle needs, but none advertises Relay=2 and HSRend=2');
    const m = thrown(() => chooseMiddle(netDir([relay({ name: 'old', flags: MIDDLE_FLAGS, protocols: oldRelay })]))) as NoPathError;
    expect(m.message).toBe('no usable middle relay among 1 relays: 1 have the flags a middle needs, but none advertises Relay=2');
  });
});

describe('choosePath', () => {
  function network(n: number, opts: { sameSubnet?: boolean } = {}): NetRelay[] {
    const out: NetRelay[] = [];
    for (let i = 0; i < n; i++) {
      const flags = i % 3 === 0 ? [...GUARD_FLAGS] : i % 3 === 1 ? [...MIDDLE_FLAGS] : [...EXIT_FLAGS];
      out.push(relay({ name: `r${i}`, flags, ip: opts.sameSubnet ? `9.9.${i}.1` : `${20 + i}.${i}.0.1`, policy: i % 3 === 2 ? 'accept 1-65535' : 'reject 1-65535', bandwidth: 50 + i }));
    }
    return out;
  }

  it('gives three distinct relays that do not conflict, ending at a suitable exit', () => {
    const relays = network(12);
    const dir = netDir(relays);
    const random = seededRandom(21);
    for (let i = 0; i < 300; i++) {
      const guard = chooseGuardCandidate(dir, { random });
      const path = choosePath(dir, guard, { random, port: 443 });
      expect(path.length).toBe(3);
      expect(path[0]).toBe(guard);
      expect(new Set(path.map((r) => r.fingerprint)).size).toBe(3);
      for (let x = 0; x < 3; x++) for (let y = x + 1; y < 3; y++) expect(relaysConflict(path[x]!, path[y]!, DEFAULT_PATH_RULES)).toBe(false);
      expect(path[2]!.exitPolicy.allowsPort(443)).toBe(true);
      expect(hasFlagsFor(path[1]!, 'middle')).toBe(true);
    }
  });

  it('never uses two relays of one family', () => {
    const guard = relay({ name: 'g', flags: GUARD_FLAGS, family: ['e1'] });
    const e1 = relay({ name: 'e1', flags: EXIT_FLAGS, policy: 'accept 443', family: ['g'], bandwidth: 10_000 });
    const e2 = relay({ name: 'e2', flags: EXIT_FLAGS, policy: 'accept 443' });
    const m = relay({ name: 'm', flags: MIDDLE_FLAGS });
    const dir = netDir([guard, e1, e2, m]);
    const random = seededRandom(4);
    for (let i = 0; i < 200; i++) expect(choosePath(dir, guard, { random, port: 443 }).map((r) => r.nickname)).toEqual(['g', 'm', 'e2']);
  });

  it('respects `exclude`', () => {
    const relays = network(9);
    const dir = netDir(relays);
    const exclude = new Set([fingerprintFor('r2'), fingerprintFor('r4')]);
    const random = seededRandom(8);
    for (let i = 0; i < 300; i++) {
      const path = choosePath(dir, relays[0]!, { random, exclude });
      for (const r of path.slice(1)) expect(exclude.has(r.fingerprint)).toBe(false);
    }
  });

  it('keeps a given exit and adds middles for longer paths', () => {
    const relays = network(15);
    const dir = netDir(relays);
    const exit = relays[5]!;
    const random = seededRandom(12);
    const path = choosePath(dir, relays[0]!, { random, exit, hops: 5 });
    expect(path.length).toBe(5);
    expect(path[4]).toBe(exit);
    expect(new Set(path.map((r) => r.fingerprint)).size).toBe(5);
    expect(choosePath(dir, relays[0]!, { random, hops: 1 })).toEqual([relays[0]]);
    expect(choosePath(dir, relays[0]!, { random, hops: 2 }).length).toBe(2);
    expect(() => choosePath(dir, relays[0]!, { hops: 0 })).toThrow(UsageError);
  });

  it('says which rule removed the relays that had the right flags', () => {
    // A private network on one host: every relay in 127.0/16, the /16 rule left on.
    const g = relay({ name: 'g', ip: '127.0.0.1', flags: GUARD_FLAGS });
    const e1 = relay({ name: 'e1', ip: '127.0.0.2', flags: EXIT_FLAGS, policy: 'accept 80' });
    const e2 = relay({ name: 'e2', ip: '127.0.0.3', flags: EXIT_FLAGS, policy: 'accept 80' });
    const oneHost = netDir([g, e1, e2, relay({ name: 'm', ip: '127.0.0.4', flags: MIDDLE_FLAGS })]);
    const subnet = thrown(() => chooseExit(oneHost, 80, { avoid: [g] }));
    expect(subnet).toBeInstanceOf(NoPathError);
    expect(subnet).toMatchObject({ kind: 'no-path', position: 'exit', shortfall: { eligible: 2, lacksProtocols: 0, excluded: 0, onPath: 0, sameFamily: 0, sameSubnet: 2 } });
    expect((subnet as Error).message).toMatch(/^no usable exit for port 80 among 4 relays: 2 have .* 2 in one \/16 .*EnforceDistinctSubnets 0/);
    expect(chooseExit(oneHost, 80, { avoid: [g], rules: NO_SUBNETS }).nickname).toMatch(/^e[12]$/);

    // No relay could ever serve: nothing about /16 or families.
    const port25 = thrown(() => chooseExit(oneHost, 25, { avoid: [g] })) as NoPathError;
    expect(port25.shortfall).toEqual({ eligible: 0, lacksProtocols: 0, excluded: 0, onPath: 0, sameFamily: 0, sameSubnet: 0 });
    expect(port25.message).toContain('none has the flags and exit policy it needs');
    expect(port25.message).not.toContain('EnforceDistinctSubnets');

    // Each middle candidate removed for its own reason, each counted once.
    const guard = relay({ name: 'guard', ip: '1.1.1.1', flags: GUARD_FLAGS, family: ['kin'] });
    const kin = relay({ name: 'kin', ip: '2.2.2.2', flags: MIDDLE_FLAGS, family: ['guard'] });
    const failed = relay({ name: 'failed', ip: '3.3.3.3', flags: MIDDLE_FLAGS });
    const exit = relay({ name: 'exit', ip: '4.4.4.4', flags: EXIT_FLAGS });
    const neighbour = relay({ name: 'neighbour', ip: '4.4.9.9', flags: MIDDLE_FLAGS });
    const dir = netDir([guard, kin, failed, exit, neighbour]);
    const middle = thrown(() => chooseMiddle(dir, { avoid: [guard, exit], exclude: new Set([failed.fingerprint]) })) as NoPathError;
    expect(middle.position).toBe('middle');
    // guard and exit have the flags too: they are on the circuit.
    expect(middle.shortfall).toEqual({ eligible: 5, lacksProtocols: 0, excluded: 1, onPath: 2, sameFamily: 1, sameSubnet: 1 });
    expect(middle.message).toBe(
      'no usable middle relay among 5 relays: 5 have the flags a middle needs, but 1 avoided after failing just now, ' +
        '2 already on the circuit, 1 in one family with a relay on the circuit, 1 in one /16 with a relay on the circuit ' +
        '(relays on one host share a /16: a private network there needs EnforceDistinctSubnets 0)',
    );
  });

  it('throws NoPathError when no path exists', () => {
    // Everything in one /16: nothing may follow the guard.
    const crowded = network(9, { sameSubnet: true });
    expect(thrown(() => choosePath(netDir(crowded), crowded[0]!, { random: seededRandom(1) }))).toBeInstanceOf(NoPathError);
    // ... but a test network that turns the rule off has paths.
    expect(choosePath(netDir(crowded), crowded[0]!, { random: seededRandom(1), rules: NO_SUBNETS }).length).toBe(3);
    // An exit but no possible middle.
    const g = relay({ name: 'g', flags: GUARD_FLAGS });
    const e = relay({ name: 'e', flags: EXIT_FLAGS, policy: 'accept 80' });
    expect(thrown(() => choosePath(netDir([g, e]), g, { random: seededRandom(1) }))).toBeInstanceOf(NoPathError);
    // Every exit excluded.
    const m = relay({ name: 'm', flags: MIDDLE_FLAGS });
    expect(thrown(() => choosePath(netDir([g, e, m]), g, { exclude: new Set([e.fingerprint]) }))).toBeInstanceOf(NoPathError);
    expect(choosePath(netDir([g, e, m]), g, { port: 80 }).map((r) => r.nickname)).toEqual(['g', 'm', 'e']);
  });

  it('random networks give a valid path or NoPathError (property)', () => {
    const relaySpec = fc.record({
      flags: fc.subarray(['Running', 'Valid', 'Fast', 'Stable', 'Guard', 'Exit', 'BadExit']),
      subnet: fc.nat(4),
      bandwidth: fc.nat(1000),
      policy: fc.constantFrom('accept 80,443', 'reject 1-65535', 'accept 1-65535', 'reject 80', 'accept 22'),
      family: fc.subarray(['r0', 'r1', 'r2', 'r3']),
    });
    fc.assert(
      fc.property(fc.array(relaySpec, { minLength: 1, maxLength: 10 }), fc.option(fc.constantFrom(22, 80, 443, 8080)), fc.nat(), fc.boolean(), (specs, port, seed, enforce) => {
        const relays = specs.map((s, i) => relay({ name: `r${i}`, flags: s.flags, ip: `${s.subnet}.${s.subnet}.${i}.1`, bandwidth: s.bandwidth, policy: s.policy, family: s.family }));
        const dir = netDir(relays);
        const rules = { enforceDistinctSubnets: enforce };
        const random = seededRandom(seed);
        try {
          const path = choosePath(dir, relays[0]!, { random, rules, ...(port === null ? {} : { port }) });
          expect(path.length).toBe(3);
          for (let x = 0; x < 3; x++) for (let y = x + 1; y < 3; y++) expect(relaysConflict(path[x]!, path[y]!, rules)).toBe(false);
          const exit = path[2]!;
          expect(hasFlagsFor(exit, 'exit', port ?? undefined)).toBe(true);
          if (port === null) expect(exit.flags.has('Exit')).toBe(true);
          else expect(exit.exitPolicy.allowsPort(port)).toBe(true);
          expect(hasFlagsFor(path[1]!, 'middle')).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(NoPathError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
