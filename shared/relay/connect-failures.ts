/**
 * Recent failures to reach a relay, so a relay does not redial one it just failed to reach each
 * time a client asks (tor's connection_or.c connect-failure cache: an entry per identity, address
 * and port, kept OR_CONNECT_FAILURE_LIFETIME = 60 s; an EXTEND2 to such a target is refused at
 * once, and tor then closes the circuit with CONNECTFAILED). Keyed by all three, as tor does: a
 * client naming a known identity at a wrong address must not get the relay itself blocked.
 * Bounded: the oldest entries go first when it is full. Pure; the clock is injected.
 */

/** tor's OR_CONNECT_FAILURE_LIFETIME. */
export const CONNECT_FAILURE_LIFETIME_MS = 60_000;
/** At most this many targets are remembered (a client could name many unreachable ones). */
export const MAX_CONNECT_FAILURES = 4096;

export class ConnectFailureCache {
  /** Key → when it failed last; Map order is insertion order, so the oldest come first. */
  private readonly failedAt = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly lifetimeMs = CONNECT_FAILURE_LIFETIME_MS,
    private readonly maxEntries = MAX_CONNECT_FAILURES,
  ) {}

  private static key(fingerprint: string, address: string, port: number): string {
    return `${fingerprint.toUpperCase()} ${address}:${port}`;
  }

  /** A connect to this target just failed. */
  noteFailure(fingerprint: string, address: string, port: number): void {
    const key = ConnectFailureCache.key(fingerprint, address, port);
    this.failedAt.delete(key); // re-insert at the end: it is the newest now
    this.failedAt.set(key, this.now());
    this.expire();
    while (this.failedAt.size > this.maxEntries) this.failedAt.delete(this.failedAt.keys().next().value!);
  }

  /** Whether to try this target: false while a failure of the last `lifetimeMs` is remembered. */
  shouldConnect(fingerprint: string, address: string, port: number): boolean {
    const at = this.failedAt.get(ConnectFailureCache.key(fingerprint, address, port));
    return at === undefined || this.now() - at >= this.lifetimeMs;
  }

  get size(): number {
    this.expire();
    return this.failedAt.size;
  }

  private expire(): void {
    const cutoff = this.now() - this.lifetimeMs;
    for (const [k, at] of this.failedAt) {
      if (at > cutoff) break; // the rest are newer
      this.failedAt.delete(k);
    }
  }
}
