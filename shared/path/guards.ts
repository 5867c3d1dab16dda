import type { KeyValueStore, Logger } from '../util/index.ts';
import { chooseGuardCandidate, hasFlagsFor, NoPathError, secureUniform, type PathRules, type UniformRandom } from './select.ts';
import { findRelay, type NetDir, type NetRelay } from '../netdir/index.ts';

/**
 * Entry guards (guard-spec, reduced to what a single-user client needs): a persistent sampled set
 * of Guard-flagged relays, drawn by guard weight; the first few usable ones are the primary guards,
 * and circuits go through the first primary guard that is not marked unreachable. A guard that
 * fails is skipped for a while, then retried; one that works is confirmed and keeps its place, so
 * the client does not wander across the network's guards (which would expose it to more of them).
 */

const STORE_KEY = 'guards';
/** guard-spec: sample up to 20 guards (fewer in a small network). */
const MAX_SAMPLE = 20;
const PRIMARY_COUNT = 3;
/** Retry a primary guard that failed after this long (guard-spec uses 10 minutes first). */
const RETRY_AFTER_MS = 10 * 60 * 1000;
/** Drop a guard that has been absent from the consensus for this long. */
const REMOVE_UNLISTED_AFTER_MS = 20 * 24 * 3600 * 1000;

interface GuardRecord {
  fingerprint: string;
  nickname: string;
  addedAt: number;
  confirmedAt?: number;
  unreachableSince?: number;
  unlistedSince?: number;
}

export class GuardManager {
  private sample: GuardRecord[] = [];
  private loaded = false;

  constructor(private readonly store: KeyValueStore, private readonly opts: { random?: UniformRandom; rules?: PathRules; now?: () => number; log?: Logger } = {}) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    const text = await this.store.get(STORE_KEY);
    if (!text) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      // A damaged state file costs the guard list, not the client: start a fresh sample.
      this.opts.log?.warn(`guard state is not valid JSON (${e instanceof Error ? e.message : String(e)}); sampling new guards`);
      return;
    }
    if (Array.isArray(parsed)) this.sample = parsed.filter((g): g is GuardRecord => typeof g === 'object' && g !== null && typeof (g as GuardRecord).fingerprint === 'string');
  }

  private async save(): Promise<void> {
    await this.store.set(STORE_KEY, JSON.stringify(this.sample));
  }

  /** Update the sample against a new consensus and top it up. */
  private refresh(dir: NetDir): void {
    const now = this.now();
    for (const g of this.sample) {
      const listed = findRelay(dir, g.fingerprint);
      if (listed && hasFlagsFor(listed, 'guard')) delete g.unlistedSince;
      else g.unlistedSince ??= now;
    }
    this.sample = this.sample.filter((g) => g.unlistedSince === undefined || now - g.unlistedSince < REMOVE_UNLISTED_AFTER_MS);
    const eligible = dir.relays.filter((r) => hasFlagsFor(r, 'guard')).length;
    const target = Math.min(MAX_SAMPLE, eligible);
    const inSample = () => this.sample.map((g) => findRelay(dir, g.fingerprint)).filter((r): r is NetRelay => r !== undefined);
    while (this.sample.filter((g) => g.unlistedSince === undefined).length < target) {
      let r: NetRelay;
      try {
        // Guards need not differ in subnet or family from each other: only from a circuit's other hops.
        r = chooseGuardCandidate(dir, { random: this.opts.random ?? secureUniform, avoid: inSample(), rules: { enforceDistinctSubnets: false } });
      } catch (e) {
        if (e instanceof NoPathError) break;
        throw e;
      }
      this.sample.push({ fingerprint: r.fingerprint, nickname: r.nickname, addedAt: now });
    }
  }

  /** Primary guards: confirmed guards first (in confirmation order), then sampled ones. */
  private primaries(dir: NetDir): GuardRecord[] {
    const usable = this.sample.filter((g) => g.unlistedSince === undefined && findRelay(dir, g.fingerprint));
    const confirmed = usable.filter((g) => g.confirmedAt !== undefined).sort((a, b) => a.confirmedAt! - b.confirmedAt!);
    const rest = usable.filter((g) => g.confirmedAt === undefined);
    return [...confirmed, ...rest].slice(0, PRIMARY_COUNT);
  }

  /**
   * The guard for the next circuit. `exclude` lets the caller skip guards that cannot serve it
   * (for instance the exit it already picked).
   */
  async pick(dir: NetDir, exclude: readonly string[] = []): Promise<NetRelay> {
    await this.load();
    this.refresh(dir);
    const now = this.now();
    const primaries = this.primaries(dir).filter((g) => !exclude.includes(g.fingerprint));
    const reachable = primaries.find((g) => g.unreachableSince === undefined || now - g.unreachableSince > RETRY_AFTER_MS);
    // If every primary failed recently, retry the first rather than widening the set of guards seen.
    const choice = reachable ?? primaries[0];
    await this.save();
    if (!choice) throw new NoPathError('no usable guard in the consensus', 'guard');
    return findRelay(dir, choice.fingerprint)!;
  }

  /**
   * Directory guards (guard-spec: the primary guards also serve the client's directory
   * requests): the primary guards not marked unreachable recently, or the first primary when all
   * are, so directory traffic is spread over a few guards and no more.
   */
  async directoryGuards(dir: NetDir): Promise<NetRelay[]> {
    await this.load();
    this.refresh(dir);
    const now = this.now();
    const primaries = this.primaries(dir);
    const reachable = primaries.filter((g) => g.unreachableSince === undefined || now - g.unreachableSince > RETRY_AFTER_MS);
    await this.save();
    return (reachable.length > 0 ? reachable : primaries.slice(0, 1)).map((g) => findRelay(dir, g.fingerprint)!);
  }

  /** A circuit through this guard was built: it is confirmed and reachable. */
  async succeeded(fingerprint: string): Promise<void> {
    await this.load();
    const g = this.sample.find((x) => x.fingerprint === fingerprint);
    if (!g) return;
    g.confirmedAt ??= this.now();
    delete g.unreachableSince;
    await this.save();
  }

  /** Connecting to this guard failed: skip it for a while. */
  async failed(fingerprint: string): Promise<void> {
    await this.load();
    const g = this.sample.find((x) => x.fingerprint === fingerprint);
    if (!g) return;
    g.unreachableSince = this.now();
    await this.save();
  }

  /** The current primary guards, for status displays. */
  async describe(dir: NetDir): Promise<{ fingerprint: string; nickname: string; confirmed: boolean; reachable: boolean }[]> {
    await this.load();
    return this.primaries(dir).map((g) => ({ fingerprint: g.fingerprint, nickname: g.nickname, confirmed: g.confirmedAt !== undefined, reachable: g.unreachableSince === undefined }));
  }
}
