import { describe, expect, it } from 'vitest';
import type { DirAuthority, FallbackDir } from '../directory/index.ts';
import { ChannelError, NetworkUnreachableError, TelescopeError } from '../util/index.ts';
import { FakeTime } from '../testing/fake-time.ts';
import { rejection } from '../testing/thrown.ts';
import { seededRandom } from '../path/fixtures/synthetic-netdir.ts';
import { firstContact, type FirstContactOptions, type FirstContactSource } from './first-contact.ts';

const fp = (i: number): string => i.toString(16).toUpperCase().padStart(40, '0');
const fallback = (i: number, weight?: number): FallbackDir => ({
  nickname: undefined, address: `127.0.1.${i}`, orPort: 5000 + i, dirPort: undefined, fingerprint: fp(i), ipv6: undefined, weight,
});
const authority = (i: number): DirAuthority => ({
  nickname: `auth${i}`, address: `127.0.2.${i}`, orPort: 6000 + i, dirPort: 7000 + i, fingerprint: fp(100 + i), v3ident: fp(200 + i),
});

/** Lets promise callbacks run (the fake clock fires timers synchronously). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

interface Attempt {
  readonly at: number;
  readonly source: FirstContactSource;
  readonly resolve: (v: string) => void;
  readonly reject: (e: unknown) => void;
}

/** A first contact on a fake clock whose connections the test answers by hand. */
function run(opts: Partial<FirstContactOptions<string>> & Pick<FirstContactOptions<string>, 'fallbacks' | 'authorities'>, seed = 1) {
  const time = new FakeTime();
  const attempts: Attempt[] = [];
  const released: string[] = [];
  let outcome: { ok: true; source: FirstContactSource; value: string } | { ok: false; error: unknown } | undefined;
  void firstContact<string>({
    connect: (source) => new Promise((resolve, reject) => attempts.push({ at: time.now(), source, resolve, reject })),
    release: (v) => released.push(v),
    now: time.now,
    schedule: time.schedule,
    random: seededRandom(seed),
    ...opts,
  }).then((r) => { outcome = { ok: true, ...r }; }, (error: unknown) => { outcome = { ok: false, error }; });
  const advance = async (ms: number): Promise<void> => {
    await settle();
    for (let t = 0; t < ms; t += 100) {
      time.advance(Math.min(100, ms - t));
      await settle();
    }
  };
  return { time, attempts, released, advance, outcome: () => outcome };
}

const refused = (): ChannelError => new ChannelError('connection refused', { phase: 'connect' });

describe('first contact: tor\'s bootstrap schedule', () => {
  it('tries fallbacks first, one more each second, at most three at once; authorities only after 6 s', async () => {
    const r = run({ fallbacks: [1, 2, 3, 4, 5, 6].map((i) => fallback(i)), authorities: [authority(1), authority(2)] });
    await r.advance(0);
    expect(r.attempts.map((a) => [a.at, a.source.kind])).toEqual([[0, 'fallback']]);
    await r.advance(2_500);
    // Three in progress: none answers, so the schedule waits for a free slot.
    expect(r.attempts.map((a) => a.at)).toEqual([0, 1_000, 2_000]);
    await r.advance(4_000);
    expect(r.attempts).toHaveLength(3);
    // One fails: the next fallback starts at the next look at the schedule, not an authority.
    r.attempts[0]!.reject(refused());
    await r.advance(1_000);
    expect(r.attempts.map((a) => a.source.kind)).toEqual(['fallback', 'fallback', 'fallback', 'fallback']);
    // Past 6 s, fallbacks still come first (tor looks at their schedule first), but with two
    // slots free an authority takes the second; the next one waits its randomized interval.
    r.attempts[1]!.reject(refused());
    r.attempts[2]!.reject(refused());
    await r.advance(1_000);
    expect(r.attempts.slice(4).map((a) => a.source.kind)).toEqual(['fallback', 'authority']);
    const firstAuthority = r.attempts.find((a) => a.source.kind === 'authority')!;
    expect(firstAuthority.at).toBeGreaterThanOrEqual(6_000);
    for (const a of r.attempts) a.reject(refused());
    await r.advance(5_000);
    expect(r.attempts.filter((a) => a.source.kind === 'authority')).toHaveLength(1);
    expect(r.outcome()).toBeUndefined();
  });

  it('with no fallbacks, asks the authorities from the start', async () => {
    const r = run({ fallbacks: [], authorities: [authority(1), authority(2), authority(3)] });
    await r.advance(0);
    expect(r.attempts.map((a) => [a.at, a.source.kind])).toEqual([[0, 'authority']]);
  });

  it('the first source to answer wins; the others are released when they answer', async () => {
    const r = run({ fallbacks: [1, 2, 3].map((i) => fallback(i)), authorities: [authority(1)] });
    await r.advance(2_000);
    expect(r.attempts).toHaveLength(3);
    r.attempts[1]!.resolve('circuit B');
    await r.advance(0);
    expect(r.outcome()).toEqual({ ok: true, source: r.attempts[1]!.source, value: 'circuit B' });
    r.attempts[2]!.resolve('circuit C');
    r.attempts[0]!.reject(refused());
    await r.advance(20_000);
    expect(r.released).toEqual(['circuit C']);
    // Nothing more is tried once one answered, and no timer is left behind.
    expect(r.attempts).toHaveLength(3);
    expect(r.time.pendingTimers).toBe(0);
  });

  it('an attempt that answers after its time limit is released, and the next source tried', async () => {
    const r = run({ fallbacks: [1, 2].map((i) => fallback(i)), authorities: [authority(1)], timing: { maxInProgress: 1 } });
    await r.advance(10_000);
    expect(r.attempts.map((a) => a.at)).toEqual([0, 10_000]);
    r.attempts[0]!.resolve('late');
    r.attempts[1]!.resolve('on time');
    await r.advance(0);
    expect(r.released).toEqual(['late']);
    expect(r.outcome()).toMatchObject({ ok: true, value: 'on time' });
  });

  it('when every source fails: a NetworkUnreachableError with the counts, at once', async () => {
    const r = run({ fallbacks: [1, 2].map((i) => fallback(i)), authorities: [authority(1)] });
    await r.advance(0);
    r.attempts[0]!.reject(refused());
    await r.advance(1_000);
    r.attempts[1]!.reject(new ChannelError('bad CERTS', { phase: 'link-handshake' }));
    await r.advance(5_000);
    expect(r.attempts.map((a) => a.source.kind)).toEqual(['fallback', 'fallback', 'authority']);
    r.attempts[2]!.reject(new TelescopeError('reset'));
    await r.advance(0);
    const o = r.outcome();
    expect(o?.ok).toBe(false);
    const e = (o as { error: unknown }).error as NetworkUnreachableError;
    expect(e).toBeInstanceOf(NetworkUnreachableError);
    expect(e.kind).toBe('network-unreachable');
    expect(e.tried).toEqual({ fallbacks: 2, authorities: 1 });
    expect(e.total).toEqual({ fallbacks: 2, authorities: 1 });
    expect(e.outcomes).toEqual({ 'connection failed': 1, 'handshake failed': 1, failed: 1 });
    expect(e.message).toBe('cannot reach the Tor network: tried 2 of 2 fallback directories and 1 of 1 directory authority; every one failed (1 connection failed, 1 handshake failed, 1 failed)');
    expect(e.cause).toBeInstanceOf(ChannelError);
    expect(r.time.pendingTimers).toBe(0);
  });

  it('when nothing answers: gives up at the deadline, saying how many of how many were tried', async () => {
    const fallbacks = Array.from({ length: 200 }, (_, i) => fallback(i + 1));
    const authorities = Array.from({ length: 9 }, (_, i) => authority(i + 1));
    const r = run({ fallbacks, authorities });
    await r.advance(29_900);
    expect(r.outcome()).toBeUndefined();
    await r.advance(100);
    const e = (r.outcome() as { error: unknown }).error as NetworkUnreachableError;
    expect(e).toBeInstanceOf(NetworkUnreachableError);
    expect(e.total).toEqual({ fallbacks: 200, authorities: 9 });
    expect(e.tried.fallbacks + e.tried.authorities).toBe(r.attempts.length);
    expect(e.message).toMatch(/^cannot reach the Tor network: tried \d+ of 200 fallback directories and \d+ of 9 directory authorities; none answered within 30 s \(\d+ timed out\)$/);
    // Connections still open then are released when they finish.
    for (const a of r.attempts) a.resolve('too late');
    await r.advance(0);
    expect(r.released).toHaveLength(r.attempts.length);
  });

  it('a connect that throws at once counts as a failed attempt', async () => {
    const time = new FakeTime();
    const p = firstContact<string>({
      fallbacks: [fallback(1)], authorities: [], connect: () => { throw refused(); }, release: () => {}, now: time.now, schedule: time.schedule,
    });
    const e = await rejection(p);
    expect(e).toBeInstanceOf(NetworkUnreachableError);
    expect((e as NetworkUnreachableError).outcomes).toEqual({ 'connection failed': 1 });
  });

  it('picks fallbacks by weight', async () => {
    let heavyFirst = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const r = run({ fallbacks: [fallback(1, 1), fallback(2, 1), fallback(3, 18)], authorities: [authority(1)] }, seed);
      await r.advance(0);
      if (r.attempts[0]!.source.fingerprint === fp(3)) heavyFirst++;
      for (const a of r.attempts) a.resolve('x');
    }
    // Expected 18/20 = 90% of 200; the binomial's 0.1% tail lies below 160.
    expect(heavyFirst).toBeGreaterThan(160);
    expect(heavyFirst).toBeLessThan(200);
  });
});
