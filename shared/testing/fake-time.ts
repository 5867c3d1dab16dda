import type { Scheduler } from '../util/index.ts';

/**
 * A clock a test moves by hand, with timers that fire (in time order) when it is advanced past
 * them: token buckets and throttles then refill exactly when the test says.
 */
export class FakeTime {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;
  readonly now = (): number => this.t;
  readonly schedule: Scheduler = (fn, ms) => {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  };

  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves the clock forward, firing due timers in time order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (next === undefined || next.at > end) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }
}
