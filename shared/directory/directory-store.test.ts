import { describe, expect, it } from 'vitest';
import { MemoryStore, TelescopeError, type KeyValueStore } from '../util/index.ts';
import { syntheticDirectory } from '../netdoc/fixtures/synthetic-directory.ts';
import { rejection } from '../testing/thrown.ts';
import { DirectoryState, microdescBatchSize, microdescRequest } from './bootstrap.ts';
import { DirectoryStore } from './directory-store.ts';

/** A store that records every write (key and size) and can be told to fail. */
class RecordingStore implements KeyValueStore {
  readonly inner = new MemoryStore();
  writes: { key: string; bytes: number }[] = [];
  failNext = false;
  get(key: string) { return this.inner.get(key); }
  async set(key: string, value: string) {
    if (this.failNext) { this.failNext = false; throw new TelescopeError(`disk full writing ${key}`); }
    this.writes.push({ key, bytes: value.length });
    await this.inner.set(key, value);
  }
  delete(key: string) { return this.inner.delete(key); }
  written(key: string) { return this.writes.filter((w) => w.key === key).reduce((n, w) => n + w.bytes, 0); }
}

/** The live network's size: a full restart must not fetch anything. */
const RELAYS = 9_745;
const big = syntheticDirectory(RELAYS);
const now = new Date(big.validAfter.getTime() + 60_000);
const mdOf = new Map(big.digests.map((d, i) => [d, big.microdescs[i]!]));

function withConsensus(): DirectoryState {
  const s = new DirectoryState(big.authorities, { random: () => 0 });
  s.addCerts(big.cert, now);
  expect(s.addConsensus(big.consensus, now)).toBe('accepted');
  return s;
}

describe('microdescriptor batches as tor sizes them', () => {
  it('at least 3 requests, 32 to 92 digests each, fewer only when fewer are missing', () => {
    expect([1, 10, 32, 60, 96, 97, 250, 276, 277, 9_745].map(microdescBatchSize)).toEqual([1, 10, 32, 32, 32, 33, 84, 92, 92, 92]);
  });

  it('addMicrodescBatch keeps only what was asked for, and says what the answer lacked', () => {
    const s = withConsensus();
    const asked = big.digests.slice(0, 5);
    const text = [big.microdescs[0], big.microdescs[2], big.microdescs[7]].join('');
    expect(s.addMicrodescBatch(text, asked)).toEqual({ added: 2, unrequested: 1, missing: [asked[1], asked[3], asked[4]] });
    expect(s.microdescCoverage().have).toBe(2);
    // The unrequested one (index 7) was not kept even though the consensus lists it.
    expect(s.microdescTexts([big.digests[7]!])).toEqual([]);
    expect(microdescRequest(asked)).toEqual({ kind: 'microdescs', path: `/tor/micro/d/${asked.join('-')}`, digests: asked });
  });
});

describe('DirectoryStore at the live network\'s size (9,745 relays)', () => {
  it('a restart loads, verifies and is ready without fetching anything', async () => {
    const store = new RecordingStore();
    const s = withConsensus();
    for (const r of s.nextRequests(now)) s.addMicrodescBatch(r.digests!.map((d) => mdOf.get(d)).join(''), r.digests!);
    expect(s.phase(now)).toBe('ready');
    await new DirectoryStore(store).save(s);

    const restarted = new DirectoryState(big.authorities, { random: () => 0 });
    expect(await new DirectoryStore(store).restoreInto(restarted, now)).toEqual([]);
    expect(restarted.phase(now)).toBe('ready');
    expect(restarted.nextRequests(now)).toEqual([]);
    expect(restarted.microdescCoverage()).toEqual({ have: RELAYS, total: RELAYS });
    expect(restarted.netDir(now)!.relays.length).toBe(RELAYS);
  });

  it('writes each group of new microdescriptors once, not the whole set again, and the consensus once', async () => {
    const store = new RecordingStore();
    const dirStore = new DirectoryStore(store);
    const s = withConsensus();
    await dirStore.save(s);
    const consensusBytes = store.written('consensus-microdesc');
    expect(consensusBytes).toBe(big.consensus.length);
    const requests = s.nextRequests(now);
    expect(requests.length).toBe(Math.ceil(RELAYS / 92));
    for (const r of requests) {
      s.addMicrodescBatch(r.digests!.map((d) => mdOf.get(d)).join(''), r.digests!);
      await dirStore.save(s);
    }
    const mdBytes = big.microdescs.reduce((n, m) => n + m.length, 0);
    const journal = store.writes.filter((w) => w.key.startsWith('cached-microdescs-journal-') || w.key === 'cached-microdescs').reduce((n, w) => n + w.bytes, 0);
    // Journal entries, plus a compaction every 32 of them: a few times the set, not once per batch
    // (which would be ~107 / 2 ≈ 53 times the set).
    expect(journal).toBeLessThan(5 * mdBytes);
    expect(store.written('consensus-microdesc')).toBe(consensusBytes);
    // Nothing changed: nothing written.
    const before = store.writes.length;
    await dirStore.save(s);
    expect(store.writes.length).toBe(before);
    // Everything comes back.
    const restarted = new DirectoryState(big.authorities, { random: () => 0 });
    expect(await new DirectoryStore(store).restoreInto(restarted, now)).toEqual([]);
    expect(restarted.microdescCoverage()).toEqual({ have: RELAYS, total: RELAYS });
    // A restored state has nothing new to write.
    const afterRestore = store.writes.length;
    await new DirectoryStore(store).save(restarted);
    expect(store.writes.length).toBe(afterRestore);
  });

  it('after a failed write the next save writes everything, so nothing taken from the state is lost', async () => {
    const store = new RecordingStore();
    const dirStore = new DirectoryStore(store);
    const s = withConsensus();
    const [first, second] = s.nextRequests(now);
    s.addMicrodescBatch(first!.digests!.map((d) => mdOf.get(d)).join(''), first!.digests!);
    store.failNext = true;
    expect(await rejection(dirStore.save(s))).toBeInstanceOf(TelescopeError);
    s.addMicrodescBatch(second!.digests!.map((d) => mdOf.get(d)).join(''), second!.digests!);
    await dirStore.save(s);
    const restarted = new DirectoryState(big.authorities, { random: () => 0 });
    expect(await new DirectoryStore(store).restoreInto(restarted, now)).toEqual([]);
    expect(restarted.microdescCoverage().have).toBe(first!.digests!.length + second!.digests!.length);
  });

  it('a new consensus that drops relays rewrites the set without them', async () => {
    const store = new RecordingStore();
    const dirStore = new DirectoryStore(store);
    const small = syntheticDirectory(300);
    const t0 = new Date(small.validAfter.getTime() + 60_000);
    const s = new DirectoryState(small.authorities, { random: () => 0 });
    s.addCerts(small.cert, t0);
    s.addConsensus(small.consensus, t0);
    s.addMicrodescs(small.microdescs.join(''));
    await dirStore.save(s);
    const next = syntheticDirectory(100, new Date(small.validAfter.getTime() + 3600_000));
    const t1 = new Date(next.validAfter.getTime() + 60_000);
    s.addConsensus(next.consensus, t1);
    await dirStore.save(s);
    expect((await store.get('cached-microdescs'))!.length).toBe(next.microdescs.reduce((n, m) => n + m.length, 0));
    expect(await store.get('cached-microdescs-journal')).toBe('0');
    const restarted = new DirectoryState(next.authorities, { random: () => 0 });
    expect(await new DirectoryStore(store).restoreInto(restarted, t1)).toEqual([]);
    expect(restarted.microdescCoverage()).toEqual({ have: 100, total: 100 });
  });

  it('a damaged journal count costs only the journal', async () => {
    const store = new MemoryStore();
    await store.set('cached-microdescs-journal', 'lots');
    await store.set('cached-microdescs-journal-0', 'not read');
    expect(await new DirectoryStore(store).load()).toEqual({});
  });
});
