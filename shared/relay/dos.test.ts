import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DOS_PARAMS, DosGuard, resolveDosParams, type DosParams } from './dos.ts';
import { FakeTime } from '../testing/fake-time.ts';

/** A guard on a fake clock whose random part of a mark is always its largest. */
function guard(overrides: Partial<DosParams> = {}, opts: { maxAddresses?: number; relays?: string[] } = {}) {
  const time = new FakeTime();
  time.t = 1_000_000;
  const g = new DosGuard({
    params: { ...resolveDosParams(undefined), ...overrides },
    now: time.now,
    randomInt: (n) => n - 1,
    ...(opts.maxAddresses ? { maxAddresses: opts.maxAddresses } : {}),
    isRelayAddress: (a) => (opts.relays ?? []).includes(a),
  });
  return { g, time };
}

function connect(g: DosGuard, address: string, n: number): (() => void)[] {
  const out: (() => void)[] = [];
  for (let i = 0; i < n; i++) {
    const v = g.admitConnection(address);
    if (!v.ok) throw new Error(`connection ${i} from ${address} refused: ${v.reason}`);
    out.push(v.release);
  }
  return out;
}

describe('resolveDosParams', () => {
  it("defaults to tor's values, with both defences on", () => {
    const p = resolveDosParams(undefined);
    expect(p).toEqual({
      circuitCreationEnabled: true,
      circuitCreationMinConnections: 3,
      circuitCreationRate: 3,
      circuitCreationBurst: 90,
      circuitCreationDefenseType: 2,
      circuitCreationDefenseTimePeriod: 3600,
      connectionEnabled: true,
      connectionMaxConcurrentCount: 100,
      connectionDefenseType: 2,
      connectionConnectRate: 20,
      connectionConnectBurst: 40,
      connectionConnectDefenseTimePeriod: 86400,
    });
  });

  it('takes the consensus params line, and the torrc over it', () => {
    // The live network's values (2026-01-29 consensus).
    const consensus = new Map([['DoSCircuitCreationRate', 2], ['DoSCircuitCreationBurst', 60], ['DoSCircuitCreationMinConnections', 2], ['DoSConnectionMaxConcurrentCount', 50], ['DoSConnectionEnabled', 0]]);
    const p = resolveDosParams(consensus, { circuitCreationBurst: 500 });
    expect(p.circuitCreationRate).toBe(2);
    expect(p.circuitCreationBurst).toBe(500);
    expect(p.circuitCreationMinConnections).toBe(2);
    expect(p.connectionMaxConcurrentCount).toBe(50);
    expect(p.connectionEnabled).toBe(false);
    expect(resolveDosParams(consensus, { connectionEnabled: 1 }).connectionEnabled).toBe(true);
  });

  it("clamps every value into tor's bounds", () => {
    fc.assert(fc.property(fc.dictionary(fc.constantFrom(...DOS_PARAMS.map((p) => p.name)), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })), (raw) => {
      const p = resolveDosParams(new Map(Object.entries(raw)));
      for (const spec of DOS_PARAMS) {
        const v = p[spec.key];
        const n = typeof v === 'boolean' ? (v ? 1 : 0) : v;
        expect(n).toBeGreaterThanOrEqual(spec.min);
        expect(n).toBeLessThanOrEqual(spec.max);
      }
    }));
    expect(resolveDosParams(new Map([['DoSConnectionConnectDefenseTimePeriod', 1]])).connectionConnectDefenseTimePeriod).toBe(10);
  });
});

describe('DosGuard: connections', () => {
  it('allows at most DoSConnectionMaxConcurrentCount connections at once from one address, and others stay welcome', () => {
    const { g } = guard({ connectionMaxConcurrentCount: 3, connectionConnectBurst: 1000 });
    const held = connect(g, '198.51.100.7', 3);
    expect(g.admitConnection('198.51.100.7')).toEqual({ ok: false, reason: 'concurrent-connections' });
    expect(g.stats.concurrentRefused).toBe(1);
    // The next comer from another address is not refused because of the abuser.
    expect(g.admitConnection('203.0.113.9').ok).toBe(true);
    // One closes: room for one more.
    held[0]!();
    held[0]!(); // releasing twice counts once
    expect(g.admitConnection('198.51.100.7').ok).toBe(true);
    expect(g.admitConnection('198.51.100.7').ok).toBe(false);
  });

  it('marks an address that empties its connect bucket and refuses it for the defense period plus up to half', () => {
    const { g, time } = guard({ connectionConnectRate: 1, connectionConnectBurst: 5, connectionConnectDefenseTimePeriod: 100 });
    // Five connections (opened and closed at once) empty the bucket; the fifth is still let in.
    for (const release of connect(g, '198.51.100.7', 5)) release();
    expect(g.admitConnection('198.51.100.7')).toEqual({ ok: false, reason: 'connect-rate' });
    expect(g.admitConnection('203.0.113.9').ok).toBe(true);
    // Still refused at the end of the period and of the random part (here its largest: 50 s)...
    time.advance(150_000);
    expect(g.admitConnection('198.51.100.7').ok).toBe(false);
    // ...and welcome after it.
    time.advance(1_000);
    expect(g.admitConnection('198.51.100.7').ok).toBe(true);
    expect(g.stats.connectRateRefused).toBe(2);
  });

  it('exempts the addresses of relays in the consensus', () => {
    const { g } = guard({ connectionMaxConcurrentCount: 1 }, { relays: ['192.0.2.1'] });
    connect(g, '192.0.2.1', 500);
    expect(g.trackedAddresses).toBe(0);
    expect(g.admitCreate('192.0.2.1')).toBe(true);
  });

  it('defense type 1 counts but refuses nothing; Enabled 0 does neither', () => {
    const counted = guard({ connectionMaxConcurrentCount: 1, connectionDefenseType: 1 }).g;
    connect(counted, '198.51.100.7', 3);
    expect(counted.stats.concurrentRefused).toBe(2);
    const off = guard({ connectionEnabled: false, circuitCreationEnabled: false, connectionMaxConcurrentCount: 1 }).g;
    connect(off, '198.51.100.7', 3);
    expect(off.trackedAddresses).toBe(0);
  });
});

describe('DosGuard: circuit creation', () => {
  it('refuses CREATE cells from an address over its rate with enough connections, for the defense period, and only from it', () => {
    const { g, time } = guard({ circuitCreationBurst: 10, circuitCreationRate: 2, circuitCreationMinConnections: 3, circuitCreationDefenseTimePeriod: 60 });
    connect(g, '198.51.100.7', 3);
    connect(g, '203.0.113.9', 3);
    for (let i = 0; i < 9; i++) expect(g.admitCreate('198.51.100.7')).toBe(true);
    // The tenth empties the bucket: marked, and that very CREATE is refused (as tor does).
    expect(g.admitCreate('198.51.100.7')).toBe(false);
    expect(g.stats.markedAddresses).toBe(1);
    // An honest address on the same relay is unaffected.
    for (let i = 0; i < 9; i++) expect(g.admitCreate('203.0.113.9')).toBe(true);
    // The bucket refills, but the mark holds for the period (60 s + 30 s random part here).
    time.advance(10_000);
    expect(g.admitCreate('198.51.100.7')).toBe(false);
    time.advance(81_000);
    expect(g.admitCreate('198.51.100.7')).toBe(true);
    expect(g.stats.circuitsRefused).toBe(2);
  });

  it('does not mark an address with fewer than DoSCircuitCreationMinConnections connections', () => {
    const { g } = guard({ circuitCreationBurst: 2, circuitCreationMinConnections: 3 });
    connect(g, '198.51.100.7', 2);
    for (let i = 0; i < 100; i++) expect(g.admitCreate('198.51.100.7')).toBe(true);
  });

  it('a marked address that keeps creating stays marked', () => {
    const { g, time } = guard({ circuitCreationBurst: 1, circuitCreationRate: 1, circuitCreationMinConnections: 1, circuitCreationDefenseTimePeriod: 10 });
    connect(g, '198.51.100.7', 1);
    expect(g.admitCreate('198.51.100.7')).toBe(false);
    for (let i = 0; i < 20; i++) {
      time.advance(10_000);
      expect(g.admitCreate('198.51.100.7')).toBe(false);
    }
  });

  it('refuses new connections from an address the circuit-creation defence marked, while the mark lasts, and only from it', () => {
    const { g, time } = guard({ circuitCreationBurst: 5, circuitCreationRate: 1, circuitCreationMinConnections: 3, circuitCreationDefenseTimePeriod: 60 });
    const open = connect(g, '198.51.100.7', 3);
    for (let i = 0; i < 5; i++) g.admitCreate('198.51.100.7');
    expect(g.stats.markedAddresses).toBe(1);
    // Far below its connection limits, yet refused: its CREATEs would all be refused.
    expect(g.admitConnection('198.51.100.7')).toEqual({ ok: false, reason: 'circuit-creation-marked' });
    for (const release of open) release();
    expect(g.admitConnection('198.51.100.7')).toMatchObject({ ok: false, reason: 'circuit-creation-marked' });
    expect(g.stats.markedConnectionsRefused).toBe(2);
    // Another address is welcome.
    expect(g.admitConnection('203.0.113.9').ok).toBe(true);
    // The mark is 60 s plus a random part of up to 30 s (the largest here): then it connects again.
    time.advance(89_000);
    expect(g.admitConnection('198.51.100.7').ok).toBe(false);
    time.advance(2_000);
    expect(g.admitConnection('198.51.100.7').ok).toBe(true);
    // DefenseType 1 (count only) refuses no CREATE, so no connection either.
    const counting = guard({ circuitCreationBurst: 5, circuitCreationMinConnections: 1, circuitCreationDefenseType: 1 }).g;
    connect(counting, '198.51.100.7', 1);
    for (let i = 0; i < 10; i++) counting.admitCreate('198.51.100.7');
    expect(counting.stats.markedAddresses).toBe(1);
    expect(counting.admitConnection('198.51.100.7').ok).toBe(true);
  });

  it('draws the random part of a mark once, not for every CREATE that keeps the address marked', () => {
    const time = new FakeTime();
    time.t = 1_000_000;
    let draws = 0;
    const g = new DosGuard({
      params: { ...resolveDosParams(undefined), circuitCreationBurst: 2, circuitCreationRate: 1, circuitCreationMinConnections: 1, circuitCreationDefenseTimePeriod: 60 },
      now: time.now,
      randomInt: (n) => { draws++; return n - 1; },
    });
    connect(g, '198.51.100.7', 1);
    for (let i = 0; i < 10_000; i++) g.admitCreate('198.51.100.7');
    expect(g.stats.circuitsRefused).toBe(9_999);
    expect(draws).toBe(1);
    // Still extended by every CREATE over the limit (tor): marked until 60 s + 30 s after the last.
    time.advance(50_000);
    for (let i = 0; i < 3; i++) expect(g.admitCreate('198.51.100.7')).toBe(false);
    time.advance(89_000);
    expect(g.admitCreate('198.51.100.7')).toBe(false);
    time.advance(2_000);
    expect(g.admitCreate('198.51.100.7')).toBe(true);
    expect(draws).toBe(1);
    // A new mark draws anew.
    g.admitCreate('198.51.100.7');
    expect(draws).toBe(2);
  });

  it('refills at the rate: after the burst, DoSCircuitCreationRate per second', () => {
    const { g, time } = guard({ circuitCreationBurst: 4, circuitCreationRate: 2, circuitCreationMinConnections: 99 });
    connect(g, '198.51.100.7', 1);
    for (let i = 0; i < 4; i++) g.admitCreate('198.51.100.7');
    // Fewer than MinConnections: never refused, but the bucket is empty; prove the refill by
    // adding connections and seeing exactly two tokens a second later.
    g.setParams({ ...g.params, circuitCreationMinConnections: 1, circuitCreationDefenseTimePeriod: 0 });
    time.advance(1000);
    expect(g.admitCreate('198.51.100.7')).toBe(true);
    expect(g.admitCreate('198.51.100.7')).toBe(false);
  });
});

describe('DosGuard: the address table', () => {
  it('forgets an address once it holds nothing (no connection, no mark, full buckets)', () => {
    const { g, time } = guard({ circuitCreationBurst: 10, circuitCreationRate: 1, connectionConnectBurst: 40, connectionConnectRate: 20 });
    const [release] = connect(g, '198.51.100.7', 1);
    g.admitCreate('198.51.100.7');
    release!();
    g.sweep();
    expect(g.trackedAddresses).toBe(1); // buckets not full yet
    time.advance(1000);
    g.sweep();
    expect(g.trackedAddresses).toBe(0);
  });

  it('is bounded: a flood of addresses cannot grow it, and open connections are never forgotten', () => {
    const { g } = guard({ connectionMaxConcurrentCount: 1 }, { maxAddresses: 100 });
    const held = connect(g, '198.51.100.7', 1);
    for (let i = 0; i < 10_000; i++) {
      const v = g.admitConnection(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
      expect(v.ok).toBe(true);
      if (v.ok) v.release();
    }
    expect(g.trackedAddresses).toBeLessThanOrEqual(100);
    // The address with an open connection kept its count.
    expect(g.admitConnection('198.51.100.7')).toEqual({ ok: false, reason: 'concurrent-connections' });
    held[0]!();
  });

  it('a table full of open connections refuses a new address instead of forgetting a count', () => {
    const { g } = guard({}, { maxAddresses: 2 });
    connect(g, 'a', 1);
    connect(g, 'b', 1);
    expect(g.admitConnection('c')).toEqual({ ok: false, reason: 'address-table-full' });
  });
});
