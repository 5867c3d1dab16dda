import { describe, expect, it } from 'vitest';
import { FakeTime } from '../testing/fake-time.ts';
import { CONNECT_FAILURE_LIFETIME_MS, ConnectFailureCache } from './connect-failures.ts';

describe('ConnectFailureCache (tor\'s connect-failure cache)', () => {
  const fp = 'A'.repeat(40);

  it('refuses a target for 60 s after a failure, then lets it be tried again', () => {
    const time = new FakeTime();
    const cache = new ConnectFailureCache(time.now);
    expect(cache.shouldConnect(fp, '192.0.2.1', 9001)).toBe(true);
    cache.noteFailure(fp, '192.0.2.1', 9001);
    expect(cache.shouldConnect(fp, '192.0.2.1', 9001)).toBe(false);
    time.advance(CONNECT_FAILURE_LIFETIME_MS - 1);
    expect(cache.shouldConnect(fp, '192.0.2.1', 9001)).toBe(false);
    time.advance(1);
    expect(cache.shouldConnect(fp, '192.0.2.1', 9001)).toBe(true);
    expect(cache.size).toBe(0);
  });

  it('keys by identity, address and port: a wrong address given for a known identity does not block the relay', () => {
    const time = new FakeTime();
    const cache = new ConnectFailureCache(time.now);
    cache.noteFailure(fp, '192.0.2.99', 9001);
    expect(cache.shouldConnect(fp, '192.0.2.1', 9001)).toBe(true);
    expect(cache.shouldConnect(fp, '192.0.2.99', 9002)).toBe(true);
    expect(cache.shouldConnect('B'.repeat(40), '192.0.2.99', 9001)).toBe(true);
    expect(cache.shouldConnect(fp.toLowerCase(), '192.0.2.99', 9001)).toBe(false);
  });

  it('a new failure restarts the 60 s', () => {
    const time = new FakeTime();
    const cache = new ConnectFailureCache(time.now);
    cache.noteFailure(fp, '192.0.2.1', 9001);
    time.advance(50_000);
    cache.noteFailure(fp, '192.0.2.1', 9001);
    time.advance(50_000);
    expect(cache.shouldConnect(fp, '192.0.2.1', 9001)).toBe(false);
  });

  it('is bounded: beyond its size the oldest entries go first', () => {
    const time = new FakeTime();
    const cache = new ConnectFailureCache(time.now, CONNECT_FAILURE_LIFETIME_MS, 3);
    for (let i = 0; i < 5; i++) {
      cache.noteFailure(fp, `192.0.2.${i}`, 9001);
      time.advance(1);
    }
    expect(cache.size).toBe(3);
    expect(cache.shouldConnect(fp, '192.0.2.0', 9001)).toBe(true);
    expect(cache.shouldConnect(fp, '192.0.2.4', 9001)).toBe(false);
  });
});
