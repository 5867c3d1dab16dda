import type { KeyValueStore } from '../util/index.ts';
import type { DirectoryState, StoredDirectory } from './bootstrap.ts';

/**
 * The directory documents in the host's KeyValueStore (files in Node, IndexedDB in the extension),
 * written incrementally. At the live network's size the consensus is ≈3.5 MB and the
 * microdescriptors several MB, so a save writes only what changed: the consensus and the
 * certificates when new ones were accepted, and each group of new microdescriptors as a journal
 * entry of its own (as tor keeps `cached-microdescs` plus a `cached-microdescs.new` journal). The
 * full microdescriptor set is rewritten only when microdescriptors were dropped (a new consensus
 * no longer lists them) or the journal has grown long; loading reads the base and every journal
 * entry (duplicates are harmless: the state keeps one of each digest).
 *
 * Crash safety: a journal entry is written before the count that names it, and a compaction
 * writes the new base before resetting the count, so an interrupted save leaves either the old or
 * the new documents (plus, at worst, entries the base already holds) — never a half set.
 */

const CONSENSUS_KEY = 'consensus-microdesc';
const CERTS_KEY = 'cached-certs';
const MICRODESCS_KEY = 'cached-microdescs';
const JOURNAL_COUNT_KEY = 'cached-microdescs-journal';
const journalKey = (i: number) => `cached-microdescs-journal-${i}`;
/** Rewrite the base once this many journal entries exist (a restart then reads few keys). */
const MAX_JOURNAL_ENTRIES = 32;

export class DirectoryStore {
  private journalEntries: number | undefined;
  /** A failed save may have lost changes taken from the state: the next one writes everything. */
  private writeEverything = false;
  /** One save at a time, in order. */
  private last: Promise<void> = Promise.resolve();

  constructor(private readonly store: KeyValueStore) {}

  /** What was stored, as DirectoryState.restore takes it. */
  async load(): Promise<StoredDirectory> {
    const [consensus, certs, base] = await Promise.all([this.store.get(CONSENSUS_KEY), this.store.get(CERTS_KEY), this.store.get(MICRODESCS_KEY)]);
    const entries = await this.journalCount();
    const journal = await Promise.all(Array.from({ length: entries }, (_, i) => this.store.get(journalKey(i))));
    const microdescs = [base ?? '', ...journal.map((j) => j ?? '')].join('');
    return {
      ...(consensus !== undefined ? { consensus } : {}),
      ...(certs !== undefined ? { certs } : {}),
      ...(microdescs !== '' ? { microdescs } : {}),
    };
  }

  /**
   * Load what was stored into `state` (verified again, as DirectoryState.restore does). Returns
   * what could not be used; anything unusable is dropped from the store at the next save.
   */
  async restoreInto(state: DirectoryState, now: Date): Promise<string[]> {
    const problems = state.restore(await this.load(), now);
    // What was just loaded is what the store holds: nothing to write back.
    const changes = state.takeChanges();
    if (problems.length > 0 || changes.microdescsDropped) this.writeEverything = true;
    return problems;
  }

  /** Write what changed in `state` since its last save (or everything, after a failed save). */
  save(state: DirectoryState): Promise<void> {
    const run = this.last.then(() => this.write(state));
    this.last = run.catch(() => undefined);
    return run;
  }

  private async write(state: DirectoryState): Promise<void> {
    const changes = state.takeChanges();
    const full = this.writeEverything;
    this.writeEverything = true; // cleared only when this save completes
    const all = full ? state.stored() : undefined;
    const consensus = all ? all.consensus : changes.consensus;
    const certs = all ? all.certs : changes.certs;
    if (consensus !== undefined) await this.store.set(CONSENSUS_KEY, consensus);
    if (certs !== undefined) await this.store.set(CERTS_KEY, certs);
    const entries = await this.journalCount();
    if (full || changes.microdescsDropped || entries >= MAX_JOURNAL_ENTRIES) {
      await this.store.set(MICRODESCS_KEY, (all ?? state.stored()).microdescs ?? '');
      await this.store.set(JOURNAL_COUNT_KEY, '0');
      this.journalEntries = 0;
      for (let i = 0; i < entries; i++) await this.store.delete(journalKey(i));
    } else if (changes.addedMicrodescs !== '') {
      await this.store.set(journalKey(entries), changes.addedMicrodescs);
      await this.store.set(JOURNAL_COUNT_KEY, String(entries + 1));
      this.journalEntries = entries + 1;
    }
    this.writeEverything = false;
  }

  private async journalCount(): Promise<number> {
    if (this.journalEntries === undefined) {
      const n = Number(await this.store.get(JOURNAL_COUNT_KEY) ?? '0');
      // A damaged count loses at most the journal: the base and the next full write still stand.
      this.journalEntries = Number.isSafeInteger(n) && n >= 0 && n <= MAX_JOURNAL_ENTRIES ? n : 0;
    }
    return this.journalEntries;
  }
}
