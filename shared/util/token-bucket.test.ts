import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TelescopeError, UsageError } from './errors.ts';
import {
  DEFAULT_BANDWIDTH,
  RateLimitCancelledError,
  RateLimiter,
  TokenBucket,
  relayRateLimits,
} from './token-bucket.ts';
import { FakeTime } from '../testing/fake-time.ts';

/** Lets promise callbacks run. */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('TokenBucket', () => {
  it('starts full and grants at most what it holds', () => {
    const time = new FakeTime();
    const b = new TokenBucket({ rate: 1000, burst: 5000, now: time.now });
    expect(b.available).toBe(5000);
    expect(b.take(3000)).toBe(3000);
    expect(b.take(3000)).toBe(2000); // may grant fewer
    expect(b.take(10)).toBe(0);
    expect(b.available).toBe(0);
  });

  it('refills continuously at rate bytes per second, up to burst', () => {
    const time = new FakeTime();
    const b = new TokenBucket({ rate: 1000, burst: 5000, now: time.now, initial: 0 });
    expect(b.available).toBe(0);
    time.advance(1);
    expect(b.available).toBe(1);
    time.advance(499);
    expect(b.available).toBe(500);
    time.advance(1_000_000);
    expect(b.available).toBe(5000);
  });

  it('keeps fractions of a byte earned between looks (no drift from rounding)', () => {
    const time = new FakeTime();
    // 3 bytes/s: a byte every 333.3 ms. Looking every ms must not lose the fractions.
    const b = new TokenBucket({ rate: 3, burst: 100, now: time.now, initial: 0 });
    let got = 0;
    for (let i = 0; i < 10_000; i++) {
      time.advance(1);
      got += b.take(100);
    }
    expect(got).toBe(30);
  });

  it('msUntil says when n bytes will be there', () => {
    const time = new FakeTime();
    const b = new TokenBucket({ rate: 1000, burst: 5000, now: time.now, initial: 0 });
    expect(b.msUntil(0)).toBe(0);
    expect(b.msUntil(1000)).toBe(1000);
    expect(b.msUntil(1)).toBe(1);
    time.advance(400);
    expect(b.msUntil(1000)).toBe(600);
    time.advance(600);
    expect(b.msUntil(1000)).toBe(0);
    // More than the bucket holds never comes at once.
    expect(b.msUntil(5001)).toBe(Infinity);
    // Rounded up: with 3 bytes/s, 1 byte takes 333.3 ms.
    const slow = new TokenBucket({ rate: 3, burst: 10, now: time.now, initial: 0 });
    expect(slow.msUntil(1)).toBe(334);
    time.advance(334);
    expect(slow.take(1)).toBe(1);
  });

  it('tryTake is all or nothing', () => {
    const time = new FakeTime();
    const b = new TokenBucket({ rate: 10, burst: 100, now: time.now });
    expect(b.tryTake(101)).toBe(false);
    expect(b.available).toBe(100);
    expect(b.tryTake(60)).toBe(true);
    expect(b.tryTake(60)).toBe(false);
    expect(b.available).toBe(40);
  });

  it('a clock that steps back earns nothing and freezes nothing', () => {
    const time = new FakeTime();
    const b = new TokenBucket({ rate: 1000, burst: 5000, now: time.now, initial: 0 });
    time.t = 1000;
    expect(b.available).toBe(1000);
    time.t = 0; // stepped back an hour's worth, say
    expect(b.available).toBe(1000);
    time.t = 10;
    expect(b.available).toBe(1010); // counting resumes from the new reading
  });

  it('reconfigure keeps the level, cut to the new burst', () => {
    const time = new FakeTime();
    const b = new TokenBucket({ rate: 1000, burst: 5000, now: time.now });
    b.reconfigure({ rate: 10, burst: 100 });
    expect(b.available).toBe(100);
    expect(b.rate).toBe(10);
    expect(b.burst).toBe(100);
    b.take(100);
    time.advance(1000);
    expect(b.available).toBe(10);
  });

  it('refuses nonsense with UsageError', () => {
    const now = (): number => 0;
    expect(() => new TokenBucket({ rate: 0, burst: 1, now })).toThrow(UsageError);
    expect(() => new TokenBucket({ rate: 1, burst: 0, now })).toThrow(UsageError);
    expect(() => new TokenBucket({ rate: 1.5, burst: 10, now })).toThrow(UsageError);
    expect(() => new TokenBucket({ rate: Infinity, burst: 10, now })).toThrow(UsageError);
    expect(() => new TokenBucket({ rate: 1, burst: 10, now: () => NaN })).toThrow(UsageError);
    const b = new TokenBucket({ rate: 1, burst: 10, now });
    expect(() => b.take(-1)).toThrow(UsageError);
    expect(() => b.take(0.5)).toThrow(UsageError);
    expect(() => b.msUntil(-1)).toThrow(UsageError);
  });

  it('uses Date.now when no clock is given', () => {
    const b = new TokenBucket({ rate: 1, burst: 10 });
    expect(b.available).toBe(10);
  });

  it('property: grants never exceed rate × elapsed + burst', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 2_000_000 })), { maxLength: 60 }),
        (rate, burst, steps) => {
          let t = 0;
          const b = new TokenBucket({ rate, burst, now: () => t });
          let granted = 0;
          for (const [dt, want] of steps) {
            t += dt;
            const g = b.take(want);
            expect(g).toBeGreaterThanOrEqual(0);
            expect(g).toBeLessThanOrEqual(want);
            granted += g;
            // Exact: every term is an integer here.
            expect(granted * 1000).toBeLessThanOrEqual(rate * t + burst * 1000);
          }
        },
      ),
    );
  });

  it('property: a bucket asked often enough grants the full rate (nothing is lost)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 1000 }), (rate, steps) => {
        let t = 0;
        // Burst large enough that one step's earnings always fit.
        const b = new TokenBucket({ rate, burst: rate * 10, now: () => t, initial: 0 });
        let granted = 0;
        for (let i = 0; i < steps; i++) {
          t += 7;
          granted += b.take(Number.MAX_SAFE_INTEGER);
        }
        expect(granted).toBe(Math.floor((rate * t) / 1000));
      }),
    );
  });

  it('property: msUntil is exact (enough then, not enough a millisecond before)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        (rate, burst, n0) => {
          const n = n0 % (burst + 1);
          let t = 0;
          const b = new TokenBucket({ rate, burst, now: () => t, initial: 0 });
          const ms = b.msUntil(n);
          if (ms > 0) {
            t = ms - 1;
            expect(b.available).toBeLessThan(n);
          }
          t = ms;
          expect(b.available).toBeGreaterThanOrEqual(n);
        },
      ),
    );
  });
});

describe('RateLimiter', () => {
  it('grants at once when the tokens are there', async () => {
    const time = new FakeTime();
    const rl = new RateLimiter({ rate: 1000, burst: 1000, now: time.now, schedule: time.schedule });
    await expect(rl.acquire(400)).resolves.toBe(400);
    expect(rl.tryAcquire(600)).toBe(true);
    expect(rl.tryAcquire(1)).toBe(false);
    await expect(rl.acquire(0)).resolves.toBe(0);
  });

  it('makes waiters wait until the bucket refills', async () => {
    const time = new FakeTime();
    const rl = new RateLimiter({ rate: 1000, burst: 1000, now: time.now, schedule: time.schedule, initial: 0 });
    let done = false;
    const p = rl.acquire(500).then((g) => {
      done = true;
      return g;
    });
    await flush();
    expect(done).toBe(false);
    time.advance(499);
    await flush();
    expect(done).toBe(false);
    time.advance(1);
    await flush();
    expect(done).toBe(true);
    await expect(p).resolves.toBe(500);
    expect(time.pendingTimers).toBe(0);
  });

  it('serves waiters first in, first out: a big request is not overtaken by small ones', async () => {
    const time = new FakeTime();
    const rl = new RateLimiter({ rate: 100, burst: 1000, now: time.now, schedule: time.schedule, initial: 0 });
    const order: string[] = [];
    const big = rl.acquire(800).then(() => order.push('big'));
    const small1 = rl.acquire(10).then(() => order.push('small1'));
    const small2 = rl.acquire(10).then(() => order.push('small2'));
    // Someone arriving later cannot jump the queue with the synchronous path either.
    time.advance(150);
    expect(rl.tryAcquire(10)).toBe(false);
    expect(rl.waiting).toBe(3);
    time.advance(10_000);
    await Promise.all([big, small1, small2]);
    expect(order).toEqual(['big', 'small1', 'small2']);
  });

  it('grants every waiter that fits when the timer fires', async () => {
    const time = new FakeTime();
    const rl = new RateLimiter({ rate: 1000, burst: 1000, now: time.now, schedule: time.schedule, initial: 0 });
    const got: number[] = [];
    const ps = [100, 100, 100].map((n) => rl.acquire(n).then((g) => got.push(g)));
    time.advance(300);
    await Promise.all(ps);
    expect(got).toEqual([100, 100, 100]);
    expect(rl.waiting).toBe(0);
  });

  it('cuts a request larger than the bucket to the burst', async () => {
    const time = new FakeTime();
    const rl = new RateLimiter({ rate: 1000, burst: 1000, now: time.now, schedule: time.schedule });
    await expect(rl.acquire(5000)).resolves.toBe(1000);
    const p = rl.acquire(5000);
    time.advance(1000);
    await expect(p).resolves.toBe(1000);
  });

  it('a cancelled waiter leaves the queue and the next one moves up', async () => {
    const time = new FakeTime();
    const rl = new RateLimiter({ rate: 100, burst: 1000, now: time.now, schedule: time.schedule, initial: 50 });
    const ac = new AbortController();
    const big = rl.acquire(900, ac.signal);
    const small = rl.acquire(40);
    let smallDone = false;
    void small.then(() => {
      smallDone = true;
    });
    await flush();
    expect(smallDone).toBe(false);
    ac.abort(new Error('stream closed'));
    await expect(big).rejects.toBeInstanceOf(RateLimitCancelledError);
    await expect(big).rejects.toBeInstanceOf(TelescopeError);
    // The 50 bytes already in the bucket are enough for the small request: no timer needed.
    await flush();
    expect(smallDone).toBe(true);
    expect(rl.waiting).toBe(0);
    expect(time.pendingTimers).toBe(0);
  });

  it('cancelling a waiter behind the head changes nothing for the head', async () => {
    const time = new FakeTime();
    const rl = new RateLimiter({ rate: 100, burst: 1000, now: time.now, schedule: time.schedule, initial: 0 });
    const ac = new AbortController();
    const head = rl.acquire(100);
    const second = rl.acquire(100, ac.signal);
    ac.abort();
    await expect(second).rejects.toBeInstanceOf(RateLimitCancelledError);
    time.advance(1000);
    await expect(head).resolves.toBe(100);
  });

  it('an already aborted signal rejects at once', async () => {
    const time = new FakeTime();
    const rl = new RateLimiter({ rate: 100, burst: 1000, now: time.now, schedule: time.schedule });
    const ac = new AbortController();
    ac.abort();
    await expect(rl.acquire(1, ac.signal)).rejects.toBeInstanceOf(RateLimitCancelledError);
    expect(rl.bucket.available).toBe(1000);
  });

  it('close rejects every waiter and every later request', async () => {
    const time = new FakeTime();
    const rl = new RateLimiter({ rate: 100, burst: 1000, now: time.now, schedule: time.schedule, initial: 0 });
    const a = rl.acquire(100);
    const b = rl.acquire(100);
    rl.close();
    await expect(a).rejects.toBeInstanceOf(RateLimitCancelledError);
    await expect(b).rejects.toBeInstanceOf(RateLimitCancelledError);
    await expect(rl.acquire(1)).rejects.toBeInstanceOf(RateLimitCancelledError);
    expect(rl.tryAcquire(1)).toBe(false);
    expect(time.pendingTimers).toBe(0);
  });

  it('tryAcquire grants all of n or nothing: never more than the burst at once', () => {
    const time = new FakeTime();
    const rl = new RateLimiter({ rate: 1000, burst: 1000, now: time.now, schedule: time.schedule });
    expect(rl.tryAcquire(1001)).toBe(false);
    expect(rl.tryAcquire(1000)).toBe(true);
    expect(rl.tryAcquire(1)).toBe(false);
  });

  it('reconfigure wakes waiters under the new limits', async () => {
    const time = new FakeTime();
    const rl = new RateLimiter({ rate: 1, burst: 1000, now: time.now, schedule: time.schedule, initial: 0 });
    const p = rl.acquire(500);
    rl.reconfigure({ rate: 1000, burst: 1000 });
    time.advance(500);
    await expect(p).resolves.toBe(500);
  });

  it('works with the real timer', async () => {
    const rl = new RateLimiter({ rate: 10_000, burst: 100, initial: 0 });
    const start = Date.now();
    await expect(rl.acquire(100)).resolves.toBe(100);
    expect(Date.now() - start).toBeGreaterThanOrEqual(5);
  });

  it('relayRateLimits gives separate read and write buckets', async () => {
    const time = new FakeTime();
    const { read, write } = relayRateLimits({ rate: DEFAULT_BANDWIDTH, burst: DEFAULT_BANDWIDTH, now: time.now, schedule: time.schedule });
    expect(read).not.toBe(write);
    await expect(read.acquire(DEFAULT_BANDWIDTH)).resolves.toBe(DEFAULT_BANDWIDTH);
    expect(write.bucket.available).toBe(DEFAULT_BANDWIDTH);
  });

  it('property: FIFO order and the rate bound hold for any mix of requests, cancels and time steps', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('acquire' as const), n: fc.integer({ min: 0, max: 20_000 }) }),
            fc.record({ kind: fc.constant('cancel' as const), i: fc.nat() }),
            fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
          ),
          { maxLength: 40 },
        ),
        async (rate, burst, ops) => {
          const time = new FakeTime();
          const rl = new RateLimiter({ rate, burst, now: time.now, schedule: time.schedule });
          const controllers: AbortController[] = [];
          const resolvedOrder: number[] = [];
          let granted = 0;
          let id = 0;
          const all: Promise<unknown>[] = [];
          for (const op of ops) {
            if (op.kind === 'acquire') {
              const me = id++;
              const ac = new AbortController();
              controllers.push(ac);
              all.push(
                rl.acquire(op.n, ac.signal).then(
                  (g) => {
                    expect(g).toBe(Math.min(op.n, burst));
                    granted += g;
                    resolvedOrder.push(me);
                  },
                  (e: unknown) => {
                    expect(e).toBeInstanceOf(RateLimitCancelledError);
                  },
                ),
              );
            } else if (op.kind === 'cancel') {
              if (controllers.length > 0) controllers[op.i % controllers.length]!.abort();
            } else time.advance(op.ms);
            await flush();
            expect(granted * 1000).toBeLessThanOrEqual(rate * time.t + burst * 1000);
          }
          rl.close();
          await Promise.all(all);
          // Those granted were granted in the order they asked.
          expect(resolvedOrder).toEqual([...resolvedOrder].sort((a, b) => a - b));
        },
      ),
      { numRuns: 200 },
    );
  });
});
