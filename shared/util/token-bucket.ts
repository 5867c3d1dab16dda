/**
 * Token buckets for a relay's bandwidth limits (tor's manual: BandwidthRate, BandwidthBurst; the
 * Tor design paper §4.1 "rate limiting"). A bucket holds at most `burst` bytes and refills at
 * `rate` bytes per second; a byte may be read or written only when a token for it is taken.
 *
 * tor refills its buckets in steps (TokenBucketRefillInterval, 100 ms by default) and lets them go
 * negative after a read overshoots. Here the refill is continuous, computed from an injected clock
 * whenever the bucket is looked at, and a bucket never grants more than it holds, so the bytes
 * granted over any span of time never exceed `rate × elapsed + burst`.
 *
 * Pure and portable (no timers of its own in TokenBucket; RateLimiter takes a scheduler), so it runs
 * in Node and in the browser alike.
 */
import { TelescopeError, UsageError, type ErrorKind } from './errors.ts';

/** A clock in milliseconds (Date.now, performance.now, or a test's fake). */
export type Clock = () => number;

export interface TokenBucketOptions {
  /** Refill rate in bytes per second (BandwidthRate). */
  readonly rate: number;
  /** Bucket size in bytes (BandwidthBurst): the most that can be taken at once after a pause. */
  readonly burst: number;
  /** Milliseconds; defaults to Date.now. Inject a fake one in tests. */
  readonly now?: Clock;
  /** Bytes in the bucket at creation; defaults to full (as tor starts its buckets). */
  readonly initial?: number;
}

function checkRateBurst(rate: number, burst: number): void {
  if (!Number.isSafeInteger(rate) || rate <= 0) throw new UsageError(`token bucket rate must be a positive integer, not ${rate}`);
  if (!Number.isSafeInteger(burst) || burst <= 0) throw new UsageError(`token bucket burst must be a positive integer, not ${burst}`);
}

function checkCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${what} must be a non-negative integer, not ${n}`);
}

/**
 * One token bucket. Its level is kept in byte-milliseconds (bytes × 1000), so that with an integer
 * rate and an integer clock every refill is exact integer arithmetic: no rounding can ever let a
 * grant exceed what the rate allowed.
 */
export class TokenBucket {
  private rateValue: number;
  private burstValue: number;
  private readonly now: Clock;
  /** Level in byte-milliseconds, 0..burst*1000. */
  private level: number;
  private last: number;

  constructor(options: TokenBucketOptions) {
    checkRateBurst(options.rate, options.burst);
    if (typeof (options.now ?? Date.now) !== 'function') throw new UsageError('token bucket clock must be a function');
    this.rateValue = options.rate;
    this.burstValue = options.burst;
    this.now = options.now ?? Date.now;
    const initial = options.initial ?? options.burst;
    checkCount(initial, 'initial token count');
    this.level = Math.min(initial, options.burst) * 1000;
    this.last = this.readClock();
  }

  get rate(): number {
    return this.rateValue;
  }

  get burst(): number {
    return this.burstValue;
  }

  private readClock(): number {
    const t = this.now();
    if (!Number.isFinite(t)) throw new UsageError(`token bucket clock gave ${t}`);
    return t;
  }

  /** Adds what the time since the last look earned, up to the bucket size. */
  private refill(): void {
    const t = this.readClock();
    // A clock that steps back (a wall clock adjusted) earns nothing and takes nothing away. Time
    // is counted from the new reading on: waiting for the old reading to come round again would
    // freeze the bucket for as long as the step was.
    if (t <= this.last) {
      this.last = t;
      return;
    }
    const cap = this.burstValue * 1000;
    const earned = (t - this.last) * this.rateValue;
    this.level = earned >= cap - this.level ? cap : this.level + earned;
    this.last = t;
  }

  /** Whole bytes that may be taken now. */
  get available(): number {
    this.refill();
    return Math.floor(this.level / 1000);
  }

  /** Takes up to n bytes; returns how many were granted (0..n, never more than available). */
  take(n: number): number {
    checkCount(n, 'bytes to take');
    this.refill();
    const granted = Math.min(n, Math.floor(this.level / 1000));
    this.level -= granted * 1000;
    return granted;
  }

  /** Takes n bytes if all of them are available; otherwise takes nothing. */
  tryTake(n: number): boolean {
    checkCount(n, 'bytes to take');
    this.refill();
    if (n * 1000 > this.level) return false;
    this.level -= n * 1000;
    return true;
  }

  /**
   * Milliseconds until n bytes are available (0 if they are now). More than the bucket holds can
   * never be available at once: that gives Infinity, so a scheduler must ask for at most `burst`.
   */
  msUntil(n: number): number {
    checkCount(n, 'bytes');
    if (n > this.burstValue) return Infinity;
    this.refill();
    const missing = n * 1000 - this.level;
    return missing <= 0 ? 0 : Math.ceil(missing / this.rateValue);
  }

  /**
   * New limits (a configuration reload). The bytes in the bucket stay, cut to the new size, as tor
   * does when BandwidthRate/BandwidthBurst change at run time.
   */
  reconfigure(options: { rate: number; burst: number }): void {
    checkRateBurst(options.rate, options.burst);
    this.refill();
    this.rateValue = options.rate;
    this.burstValue = options.burst;
    this.level = Math.min(this.level, options.burst * 1000);
  }
}

/** A wait for tokens was given up (its AbortSignal fired, or the limiter was closed). */
export class RateLimitCancelledError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'cancelled';
}

/** Runs fn after ms milliseconds; returns a function that cancels it. */
export type Scheduler = (fn: () => void, ms: number) => () => void;

const defaultScheduler: Scheduler = (fn, ms) => {
  const id = globalThis.setTimeout(fn, ms);
  return () => globalThis.clearTimeout(id);
};

export interface RateLimiterOptions extends TokenBucketOptions {
  /** Timer for waking waiters; defaults to setTimeout. Tests pass one driven by their fake clock. */
  readonly schedule?: Scheduler;
}

interface Waiter {
  readonly want: number;
  readonly resolve: (granted: number) => void;
  readonly reject: (e: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * A bucket shared by many connections, as tor has one relay-wide bucket for reads and one for
 * writes. Waiters are served strictly in the order they asked (FIFO): a large request at the head
 * is not overtaken by small ones behind it, so no connection can be starved by chattier ones.
 */
export class RateLimiter {
  readonly bucket: TokenBucket;
  private readonly schedule: Scheduler;
  private readonly queue: Waiter[] = [];
  private cancelTimer: (() => void) | undefined;
  private closed = false;

  constructor(options: RateLimiterOptions) {
    this.bucket = new TokenBucket(options);
    this.schedule = options.schedule ?? defaultScheduler;
  }

  /** Number of connections waiting for tokens. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Waits until n bytes may pass, then takes them. Requests larger than the bucket are cut to its
   * size (they could never be granted whole): the promise resolves with the number granted,
   * min(n, burst), and the caller sends that much and asks again for the rest. An aborted signal
   * rejects with RateLimitCancelledError and gives the place in the queue to the next waiter.
   */
  acquire(n: number, signal?: AbortSignal): Promise<number> {
    checkCount(n, 'bytes to acquire');
    if (this.closed) return Promise.reject(new RateLimitCancelledError('rate limiter closed'));
    if (signal?.aborted) return Promise.reject(new RateLimitCancelledError('wait for bandwidth cancelled', { cause: signal.reason }));
    const want = Math.min(n, this.bucket.burst);
    // Fast path: nobody ahead in the queue and the tokens are there.
    if (this.queue.length === 0 && this.bucket.tryTake(want)) return Promise.resolve(want);
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = {
        want,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(waiter);
          if (i === -1) return;
          this.queue.splice(i, 1);
          reject(new RateLimitCancelledError('wait for bandwidth cancelled', { cause: signal?.reason }));
          // The head may have changed: the next waiter might be servable right now.
          if (i === 0) this.pump();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      if (this.queue.length === 1) this.pump();
    });
  }

  /**
   * Takes all n bytes at once if nobody is waiting and they are available (for hot paths that
   * can defer work themselves); never queues. More than the burst is never available at once: the
   * caller then takes the slow path (acquire, which pays in burst-sized pieces).
   */
  tryAcquire(n: number): boolean {
    checkCount(n, 'bytes to acquire');
    if (this.closed || this.queue.length > 0 || n > this.bucket.burst) return false;
    return this.bucket.tryTake(n);
  }

  /** New limits; waiters are re-examined under them (a request is still cut to the new burst). */
  reconfigure(options: { rate: number; burst: number }): void {
    this.bucket.reconfigure(options);
    this.pump();
  }

  /** Rejects every waiter and refuses new requests (the relay is shutting down). */
  close(): void {
    this.closed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    for (const w of this.queue.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(new RateLimitCancelledError('rate limiter closed'));
    }
  }

  /** Serves waiters from the head while tokens last, then sets one timer for the new head. */
  private pump(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    for (;;) {
      const head = this.queue[0];
      if (head === undefined) return;
      const want = Math.min(head.want, this.bucket.burst);
      if (!this.bucket.tryTake(want)) {
        // At least 1 ms, so a clock that has not moved yet cannot spin the loop.
        const ms = Math.max(1, this.bucket.msUntil(want));
        this.cancelTimer = this.schedule(() => {
          this.cancelTimer = undefined;
          this.pump();
        }, ms);
        return;
      }
      this.queue.shift();
      head.signal?.removeEventListener('abort', head.onAbort);
      head.resolve(want);
    }
  }
}

/** tor's default BandwidthRate and BandwidthBurst: 1 GByte (per second, and bucket size). */
export const DEFAULT_BANDWIDTH = 2 ** 30;

/** The relay-wide pair tor keeps: one bucket for bytes read, one for bytes written. */
export interface RelayRateLimits {
  readonly read: RateLimiter;
  readonly write: RateLimiter;
}

/** Two limiters with the same BandwidthRate/BandwidthBurst, for reads and for writes. */
export function relayRateLimits(options: RateLimiterOptions): RelayRateLimits {
  return { read: new RateLimiter(options), write: new RateLimiter(options) };
}
