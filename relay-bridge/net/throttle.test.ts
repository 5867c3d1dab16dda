import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ByteTransport } from '../../shared/channel/index.ts';
import { RateLimiter } from '../../shared/util/index.ts';
import { ThrottledTransport } from './throttle.ts';
import { FakeTime } from '../../shared/testing/fake-time.ts';

/**
 * ThrottledTransport: a relay-wide read budget (RateLimiter) in front of a connection. Time is
 * a fake clock whose timers the test fires by advancing it, so refills happen exactly when the
 * test says.
 */

/** Lets promise callbacks run. */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

/** The connection under the throttle: the test pushes bytes in, and sees pause/resume/close. */
class FakeInner implements ByteTransport {
  onData: ((data: Uint8Array) => void) | undefined;
  onClose: ((error?: Error) => void) | undefined;
  readonly description = 'fake peer';
  readonly peerCertificate = Uint8Array.of(0x30, 0x82);
  readonly sent: Uint8Array[] = [];
  paused = false;
  pauses = 0;
  resumes = 0;
  closes = 0;
  send(data: Uint8Array): void {
    this.sent.push(data);
  }
  close(): void {
    this.closes++;
    this.onClose?.();
  }
  pause(): void {
    this.pauses++;
    this.paused = true;
  }
  resume(): void {
    this.resumes++;
    this.paused = false;
  }
  arrive(n: number, fill: number): void {
    this.onData?.(new Uint8Array(n).fill(fill));
  }
}

function setup(rate = 1000, burst = 1000) {
  const time = new FakeTime();
  const limiter = new RateLimiter({ rate, burst, now: time.now, schedule: time.schedule });
  const inner = new FakeInner();
  const throttled = new ThrottledTransport(inner, limiter);
  const got: Uint8Array[] = [];
  const closes: (Error | undefined)[] = [];
  throttled.onData = (d) => got.push(d);
  throttled.onClose = (e) => closes.push(e);
  return { time, limiter, inner, throttled, got, closes };
}

describe('ThrottledTransport', () => {
  it('passes data within the budget straight on, without pausing', async () => {
    const { inner, got } = setup();
    inner.arrive(400, 1);
    inner.arrive(600, 2);
    await flush();
    expect(got.map((d) => [d.length, d[0]])).toEqual([[400, 1], [600, 2]]);
    expect(inner.pauses).toBe(0);
  });

  it('over the budget: pauses the connection, delivers in order after the refill, then resumes', async () => {
    const { time, inner, got } = setup(1000, 1000);
    inner.arrive(800, 1); // within budget: 200 left
    inner.arrive(600, 2); // over: waits for tokens
    inner.arrive(50, 3); // fits in what is left (and is paid now), but must not overtake the 600
    await flush();
    expect(got.map((d) => d[0])).toEqual([1]);
    expect(inner.paused).toBe(true);
    // 200 - 50 = 150 left: the 600 needs 450 more, 450 ms at 1000 B/s.
    time.advance(449);
    await flush();
    expect(got.map((d) => d[0])).toEqual([1]);
    time.advance(1);
    await flush();
    expect(got.map((d) => [d.length, d[0]])).toEqual([[800, 1], [600, 2], [50, 3]]);
    expect(inner.paused).toBe(false);
    expect(inner.resumes).toBe(inner.pauses);
  });

  it('a chunk larger than the bucket is delivered whole, once enough refills have passed', async () => {
    const { time, inner, got } = setup(1000, 1000);
    inner.arrive(2500, 7);
    await flush();
    expect(got).toEqual([]);
    expect(inner.paused).toBe(true);
    // 1000 at once (full bucket), then 1000 per second.
    time.advance(1000);
    await flush();
    expect(got).toEqual([]);
    time.advance(500);
    await flush();
    expect(got.map((d) => d.length)).toEqual([2500]);
    expect(inner.paused).toBe(false);
  });

  it('the bytes granted never exceed rate × time + burst, whatever the chunks (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 12 }), async (sizes) => {
        const { time, inner, got } = setup(1000, 1000);
        sizes.forEach((n, i) => inner.arrive(n, i));
        await flush();
        const total = sizes.reduce((a, b) => a + b, 0);
        for (let step = 0; step < total / 100 + 50 && got.length < sizes.length; step++) {
          const delivered = got.reduce((a, d) => a + d.length, 0);
          expect(delivered).toBeLessThanOrEqual(1000 * (time.t / 1000) + 1000);
          time.advance(100);
          await flush();
        }
        // Everything arrives, in order, unchanged.
        expect(got.map((d) => [d.length, d[0]])).toEqual(sizes.map((n, i) => [n, i & 0xff]));
        expect(got.reduce((a, d) => a + d.length, 0)).toBe(total);
        expect(inner.paused).toBe(false);
      }),
      { numRuns: 50 },
    );
  });

  it('closing the limiter closes the connection; what waited is not delivered', async () => {
    const { limiter, inner, got, closes } = setup(1000, 1000);
    inner.arrive(1000, 1);
    inner.arrive(10, 2);
    await flush();
    expect(got.length).toBe(1);
    expect(inner.paused).toBe(true);
    limiter.close();
    await flush();
    expect(inner.closes).toBe(1);
    expect(closes).toEqual([undefined]);
    expect(got.length).toBe(1);
  });

  it('data arriving after the limiter closed closes the connection too', async () => {
    const { limiter, inner, got } = setup();
    limiter.close();
    inner.arrive(10, 1);
    await flush();
    expect(inner.closes).toBe(1);
    expect(got).toEqual([]);
  });

  it('the connection closing while data waits: the waiting data is still delivered once paid for, then the close', async () => {
    const { time, inner, got, closes } = setup(1000, 1000);
    inner.arrive(1000, 1);
    inner.arrive(500, 2);
    await flush();
    inner.onClose?.(new Error('reset'));
    await flush();
    expect(closes.length).toBe(0);
    time.advance(1000);
    await flush();
    expect(got.map((d) => d[0])).toEqual([1, 2]);
    expect(closes.length).toBe(1);
    expect(closes[0]!.message).toBe('reset');
  });

  it('sends, closes and describes through the inner transport', async () => {
    const { inner, throttled, closes } = setup();
    throttled.send(Uint8Array.of(1, 2, 3));
    expect(inner.sent.map((d) => [...d])).toEqual([[1, 2, 3]]);
    expect(throttled.description).toBe('fake peer');
    expect(throttled.peerCertificate).toEqual(Uint8Array.of(0x30, 0x82));
    throttled.close();
    expect(inner.closes).toBe(1);
    await flush(); // the close is reported after what was read before it
    expect(closes).toEqual([undefined]);
  });

  it('works over a connection that cannot pause', async () => {
    const time = new FakeTime();
    const limiter = new RateLimiter({ rate: 100, burst: 100, now: time.now, schedule: time.schedule });
    const inner: ByteTransport = { onData: undefined, onClose: undefined, description: 'no pause', send() {}, close() {} };
    const throttled = new ThrottledTransport(inner, limiter);
    const got: number[] = [];
    throttled.onData = (d) => got.push(d.length);
    inner.onData!(new Uint8Array(150));
    await flush();
    expect(got).toEqual([]);
    time.advance(500);
    await flush();
    expect(got).toEqual([150]);
  });

  it('one limiter shared by two connections: the budget is relay-wide', async () => {
    const time = new FakeTime();
    const limiter = new RateLimiter({ rate: 1000, burst: 1000, now: time.now, schedule: time.schedule });
    const [a, b] = [new FakeInner(), new FakeInner()];
    const got: string[] = [];
    const ta = new ThrottledTransport(a, limiter);
    const tb = new ThrottledTransport(b, limiter);
    ta.onData = (d) => got.push(`a${d.length}`);
    tb.onData = (d) => got.push(`b${d.length}`);
    a.arrive(700, 0);
    b.arrive(700, 0);
    await flush();
    expect(got).toEqual(['a700']);
    expect(b.paused).toBe(true);
    expect(a.paused).toBe(false);
    time.advance(400);
    await flush();
    expect(got).toEqual(['a700', 'b700']);
    expect(b.paused).toBe(false);
  });
});

describe('ThrottledTransport under a channel that pauses reading', () => {
  it('a pause from the channel holds while tokens come back: the budget does not resume what the channel paused', async () => {
    const { time, inner, throttled, got } = setup(1000, 1000);
    inner.arrive(1000, 1); // the whole budget
    inner.arrive(500, 2); // over budget: the throttle pauses and waits
    await flush();
    expect(inner.paused).toBe(true);
    throttled.pause(); // the channel's peer stopped reading
    time.advance(500);
    await flush();
    // The waiting chunk is paid for and delivered, but reading stays paused for the channel.
    expect(got.map((d) => d[0])).toEqual([1, 2]);
    expect(inner.paused).toBe(true);
    throttled.resume();
    expect(inner.paused).toBe(false);
  });

  it('a resume from the channel does not undo a pause for the budget', async () => {
    const { time, inner, throttled, got } = setup(1000, 1000);
    throttled.pause();
    throttled.resume();
    expect(inner.paused).toBe(false);
    inner.arrive(1000, 1);
    inner.arrive(500, 2);
    await flush();
    expect(inner.paused).toBe(true);
    throttled.pause();
    throttled.resume(); // the channel is happy again, but the budget still waits
    expect(inner.paused).toBe(true);
    time.advance(500);
    await flush();
    expect(got.map((d) => d[0])).toEqual([1, 2]);
    expect(inner.paused).toBe(false);
  });

  it('passes onDrain through to the connection', () => {
    const { inner, throttled } = setup();
    let drains = 0;
    throttled.onDrain = () => drains++;
    (inner as ByteTransport).onDrain?.();
    expect(drains).toBe(1);
    expect(throttled.onDrain).toBe((inner as ByteTransport).onDrain);
  });
});
