import type { QueueAccounting } from '../channel/index.ts';
import { UsageError, type Logger } from '../util/index.ts';

/**
 * MaxMemInQueues: the relay's out-of-memory handler for queued cells (tor's cell_queues_check_size
 * and circuits_handle_oom). Every circuit queue of the relay accounts its bytes here; when all of
 * them together reach the limit, the circuits whose oldest queued cell is oldest are destroyed
 * (RESOURCELIMIT), oldest first, until the total is at most 90% of the limit. The oldest cells
 * belong to the circuits whose far end stopped reading the longest ago — a peer that makes the
 * relay hold data for it — not to the circuits that happen to send next.
 *
 * Per-circuit queue limits (relay-circuit.ts) catch one circuit that floods; this catches many
 * circuits that each stay under their limit.
 */

/** What the handler can kill: a relay circuit. */
export interface QueueOwner {
  /** When its oldest queued cell was queued (QueueAccounting.now()); undefined when none is. */
  readonly oldestQueuedAt: number | undefined;
  /** Let its channels send what they can now (cells queued this turn are not yet a backlog). */
  flushQueues(): void;
  /** Destroy it with RESOURCELIMIT, dropping what it has queued. */
  killForMemory(): void;
}

/** tor keeps this fraction of the limit when it frees memory (FRACTION_OF_DATA_TO_RETAIN_ON_OOM). */
const RETAIN_FRACTION = 0.9;

export interface CellQueueMemoryOptions {
  /** MaxMemInQueues, in bytes. */
  readonly maxBytes: number;
  /**
   * Stamps for queued cells. Only their order matters (which circuit's oldest cell is oldest), so
   * the default is a sequence number, cheaper on the hot path than reading a clock per cell.
   */
  readonly now?: () => number;
  readonly log: Logger;
}

export class CellQueueMemory implements QueueAccounting {
  /** Bytes queued in all circuit queues. */
  total = 0;
  /** Times the limit was reached, and circuits destroyed for it (status lines, tests). */
  oomRuns = 0;
  circuitsKilled = 0;
  readonly maxBytes: number;
  private readonly owners = new Set<QueueOwner>();
  private handling = false;
  private readonly clock: () => number;

  constructor(private readonly opts: CellQueueMemoryOptions) {
    if (!(opts.maxBytes > 0)) throw new UsageError(`MaxMemInQueues must be positive, not ${opts.maxBytes}`);
    this.maxBytes = opts.maxBytes;
    let sequence = 0;
    this.clock = opts.now ?? (() => ++sequence);
  }

  now(): number {
    return this.clock();
  }

  register(owner: QueueOwner): void {
    this.owners.add(owner);
  }

  unregister(owner: QueueOwner): void {
    this.owners.delete(owner);
  }

  added(bytes: number): void {
    this.total += bytes;
    if (this.total >= this.maxBytes && !this.handling) this.handleOom();
  }

  removed(bytes: number): void {
    this.total -= bytes;
  }

  private handleOom(): void {
    this.handling = true;
    // Cells queued in this turn of the event loop (one read's worth) have not had their chance to
    // leave yet: let every channel send what its transport takes, then look again.
    try {
      for (const owner of this.owners) owner.flushQueues();
    } finally {
      this.handling = false;
    }
    if (this.total < this.maxBytes) return;
    this.handling = true;
    this.oomRuns++;
    const before = this.total;
    const target = Math.floor(this.maxBytes * RETAIN_FRACTION);
    let killed = 0;
    try {
      const candidates: { owner: QueueOwner; since: number }[] = [];
      for (const owner of this.owners) {
        const since = owner.oldestQueuedAt;
        if (since !== undefined) candidates.push({ owner, since });
      }
      candidates.sort((a, b) => a.since - b.since);
      for (const { owner } of candidates) {
        if (this.total <= target) break;
        owner.killForMemory();
        killed++;
      }
    } finally {
      this.handling = false;
      this.circuitsKilled += killed;
    }
    this.opts.log.notice(`queued cells reached MaxMemInQueues (${before} of ${this.maxBytes} bytes): destroyed ${killed} circuit(s) with the oldest queued cells, ${before - this.total} bytes freed, ${this.owners.size} circuit(s) remain`);
  }
}
