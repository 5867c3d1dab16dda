import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MemoryStore } from '../util/index.ts';
import { GuardManager } from './guards.ts';
import type { NetDir, NetRelay } from '../netdir/index.ts';
import { NoPathError } from './select.ts';
import { EXIT_FLAGS, GUARD_FLAGS, MIDDLE_FLAGS, netDir, relay, seededRandom } from './fixtures/synthetic-netdir.ts';

/** guards.ts: a failed primary guard is retried after 10 minutes. */
const RETRY_AFTER_MS = 10 * 60 * 1000;
const DAY_MS = 24 * 3600 * 1000;

function guards(n: number, prefix = 'g'): NetRelay[] {
  return Array.from({ length: n }, (_, i) => relay({ name: `${prefix}${i}`, flags: GUARD_FLAGS, bandwidth: 100 + i }));
}

function network(guardRelays: readonly NetRelay[]): NetDir {
  return netDir([
    ...guardRelays,
    relay({ name: 'mid1', flags: MIDDLE_FLAGS, bandwidth: 10_000 }),
    relay({ name: 'mid2', flags: MIDDLE_FLAGS, bandwidth: 10_000 }),
    relay({ name: 'exit1', flags: EXIT_FLAGS, bandwidth: 10_000, policy: 'accept 1-65535' }),
  ]);
}

/** A clock the test moves by hand. */
function clock(start = Date.UTC(2024, 0, 1)): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

describe('GuardManager', () => {
  const all = guards(6);
  const dir = network(all);

  it('picks a Guard-flagged relay', async () => {
    for (let seed = 0; seed < 20; seed++) {
      const g = await new GuardManager(new MemoryStore(), { random: seededRandom(seed) }).pick(dir);
      expect(g.flags.has('Guard')).toBe(true);
      expect(all).toContain(g);
    }
  });

  it('picks the same guard again, also after a restart on the same store', async () => {
    const store = new MemoryStore();
    const gm = new GuardManager(store, { random: seededRandom(1) });
    const first = await gm.pick(dir);
    for (let i = 0; i < 10; i++) expect(await gm.pick(dir)).toBe(first);
    // A new manager (a restarted client) with a different random source keeps the saved choice.
    const restarted = new GuardManager(store, { random: seededRandom(999) });
    expect((await restarted.pick(dir)).fingerprint).toBe(first.fingerprint);
    const saved = JSON.parse((await store.get('guards'))!) as { fingerprint: string }[];
    expect(saved.length).toBe(6);
    expect(new Set(saved.map((g) => g.fingerprint)).size).toBe(6);
  });

  it('samples at most 20 guards from a large network', async () => {
    const store = new MemoryStore();
    const big = network(guards(35, 'big'));
    await new GuardManager(store, { random: seededRandom(3) }).pick(big);
    const saved = JSON.parse((await store.get('guards'))!) as { fingerprint: string }[];
    expect(saved.length).toBe(20);
  });

  it('skips a failed guard until the retry time has passed', async () => {
    const c = clock();
    const store = new MemoryStore();
    const gm = new GuardManager(store, { random: seededRandom(2), now: c.now });
    const first = await gm.pick(dir);
    await gm.failed(first.fingerprint);
    const second = await gm.pick(dir);
    expect(second.fingerprint).not.toBe(first.fingerprint);
    expect((await gm.describe(dir)).find((g) => g.fingerprint === first.fingerprint)?.reachable).toBe(false);
    c.advance(RETRY_AFTER_MS);
    expect((await gm.pick(dir)).fingerprint).toBe(second.fingerprint);
    // The failure is remembered across a restart.
    expect((await new GuardManager(store, { random: seededRandom(5), now: c.now }).pick(dir)).fingerprint).toBe(second.fingerprint);
    c.advance(1);
    expect((await gm.pick(dir)).fingerprint).toBe(first.fingerprint);
    // Success clears the mark.
    await gm.succeeded(first.fingerprint);
    expect((await gm.describe(dir)).find((g) => g.fingerprint === first.fingerprint)).toMatchObject({ reachable: true, confirmed: true });
  });

  it('when every primary guard failed recently, retries the first instead of widening the set', async () => {
    const c = clock();
    const gm = new GuardManager(new MemoryStore(), { random: seededRandom(4), now: c.now });
    const primaries = (await gm.describe(dir)).map((g) => g.fingerprint);
    expect(primaries).toEqual([]); // nothing sampled before the first pick
    const first = await gm.pick(dir);
    const prim = (await gm.describe(dir)).map((g) => g.fingerprint);
    expect(prim.length).toBe(3);
    expect(prim[0]).toBe(first.fingerprint);
    for (const fp of prim) await gm.failed(fp);
    expect((await gm.pick(dir)).fingerprint).toBe(prim[0]);
  });

  it('does not pick a guard that left the consensus or lost its Guard flag, and takes it back when it returns', async () => {
    const c = clock();
    const gm = new GuardManager(new MemoryStore(), { random: seededRandom(6), now: c.now });
    const first = await gm.pick(dir);
    const without = network(all.filter((g) => g !== first));
    const other = await gm.pick(without);
    expect(other.fingerprint).not.toBe(first.fingerprint);
    // Still listed, but no longer a Guard: not usable as one.
    const demoted = network(all.map((g) => (g === first ? relay({ name: g.nickname, flags: MIDDLE_FLAGS }) : g)));
    expect((await gm.pick(demoted)).fingerprint).toBe(other.fingerprint);
    // Back within the grace period: it is the first choice again.
    c.advance(DAY_MS);
    expect((await gm.pick(dir)).fingerprint).toBe(first.fingerprint);
  });

  it('forgets a guard that has been absent for more than 20 days', async () => {
    const c = clock();
    const store = new MemoryStore();
    const gm = new GuardManager(store, { random: seededRandom(7), now: c.now });
    const first = await gm.pick(dir);
    const without = network(all.filter((g) => g !== first));
    const replacement = await gm.pick(without);
    c.advance(21 * DAY_MS);
    await gm.pick(without);
    const saved = JSON.parse((await store.get('guards'))!) as { fingerprint: string }[];
    expect(saved.map((g) => g.fingerprint)).not.toContain(first.fingerprint);
    // When it comes back it is a new sample member at the end, not the first choice.
    expect((await gm.pick(dir)).fingerprint).toBe(replacement.fingerprint);
  });

  it('puts confirmed guards first', async () => {
    const c = clock();
    const store = new MemoryStore();
    const gm = new GuardManager(store, { random: seededRandom(8), now: c.now });
    const first = await gm.pick(dir);
    const prim = await gm.describe(dir);
    expect(prim.every((g) => !g.confirmed)).toBe(true);
    const third = prim[2]!.fingerprint;
    await gm.succeeded(third);
    expect((await gm.pick(dir)).fingerprint).toBe(third);
    const after = await gm.describe(dir);
    expect(after[0]).toMatchObject({ fingerprint: third, confirmed: true, reachable: true });
    // Confirmation order is kept: a later confirmation comes second.
    c.advance(1000);
    await gm.succeeded(first.fingerprint);
    expect((await gm.describe(dir)).slice(0, 2).map((g) => g.fingerprint)).toEqual([third, first.fingerprint]);
    // ... and survives a restart.
    expect((await new GuardManager(store, { now: c.now }).pick(dir)).fingerprint).toBe(third);
    // A failed confirmed guard is skipped for the next one in order.
    await gm.failed(third);
    expect((await gm.pick(dir)).fingerprint).toBe(first.fingerprint);
  });

  it('honours `exclude`', async () => {
    const gm = new GuardManager(new MemoryStore(), { random: seededRandom(9) });
    const first = await gm.pick(dir);
    const next = await gm.pick(dir, [first.fingerprint]);
    expect(next.fingerprint).not.toBe(first.fingerprint);
    expect(next.flags.has('Guard')).toBe(true);
  });

  it('throws NoPathError when the consensus has no guards', async () => {
    const gm = new GuardManager(new MemoryStore(), { random: seededRandom(10) });
    await expect(gm.pick(network([]))).rejects.toBeInstanceOf(NoPathError);
  });

  it('ignores success and failure reports for relays it never sampled', async () => {
    const store = new MemoryStore();
    const gm = new GuardManager(store, { random: seededRandom(11) });
    await gm.succeeded('00'.repeat(20));
    await gm.failed('00'.repeat(20));
    expect(await store.get('guards')).toBeUndefined();
  });

  it('always returns a listed Guard relay for any sequence of picks, failures and successes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ op: fc.constantFrom('pick', 'fail', 'ok', 'drop', 'wait'), n: fc.nat(10) }), { maxLength: 25 }),
        fc.nat(),
        async (ops, seed) => {
          const c = clock();
          const gm = new GuardManager(new MemoryStore(), { random: seededRandom(seed), now: c.now });
          let current = all;
          let last: NetRelay | undefined;
          for (const { op, n } of ops) {
            if (op === 'pick') {
              const d = network(current);
              if (current.length === 0) {
                await expect(gm.pick(d)).rejects.toBeInstanceOf(NoPathError);
                continue;
              }
              last = await gm.pick(d);
              expect(current).toContain(last);
            } else if (op === 'fail' && last) await gm.failed(last.fingerprint);
            else if (op === 'ok' && last) await gm.succeeded(last.fingerprint);
            else if (op === 'drop') current = n % 3 === 0 ? all : current.filter((_, i) => i !== n % Math.max(1, current.length));
            else c.advance(n * 3 * 60 * 1000);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
