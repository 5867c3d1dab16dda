import { describe, expect, it } from 'vitest';
import { DirectoryState, microdescRequest } from '../directory/index.ts';
import { syntheticDirectory } from '../netdoc/fixtures/synthetic-directory.ts';
import { ChannelError, ProtocolError, TelescopeError, silentLogger } from '../util/index.ts';
import { rejection, thrown } from '../testing/thrown.ts';
import { downloadMicrodescs, type MicrodescSource } from './microdesc-download.ts';

/**
 * The parallel microdescriptor download against fake caches: one that answers, one that never
 * answers (the per-request timeout ends it), one that fails, one that sends microdescriptors
 * nobody asked for, one that lacks some. The directory state is the real one, so what counts as
 * a right answer is the digest check the client uses.
 */

const big = syntheticDirectory(300);
const now = new Date(big.validAfter.getTime() + 60_000);
const mdByDigest = new Map(big.digests.map((d, i) => [d, big.microdescs[i]!]));
const enc = (s: string) => new TextEncoder().encode(s);

function stateWithConsensus(): DirectoryState {
  const s = new DirectoryState(big.authorities, { random: () => 0 });
  s.addCerts(big.cert, now);
  expect(s.addConsensus(big.consensus, now)).toBe('accepted');
  return s;
}

type Behaviour = 'good' | 'silent' | 'failing' | 'wrong' | 'lacking' | 'garbage';
interface FakeCache extends MicrodescSource { readonly behaviour: Behaviour; asked: string[][]; active: number; maxActive: number }

function cache(id: string, behaviour: Behaviour): FakeCache {
  return { id, behaviour, asked: [], active: 0, maxActive: 0 };
}

/** Serve like a cache would, per behaviour; every answer comes a turn later (requests overlap). */
async function serve(c: FakeCache, digests: readonly string[], signal: AbortSignal): Promise<Uint8Array> {
  c.asked.push([...digests]);
  c.active++;
  c.maxActive = Math.max(c.maxActive, c.active);
  try {
    await new Promise((r) => setTimeout(r, 1));
    switch (c.behaviour) {
      case 'good':
        return enc(digests.map((d) => mdByDigest.get(d)!).join(''));
      case 'lacking': // has only every other one
        return enc(digests.filter((_, i) => i % 2 === 0).map((d) => mdByDigest.get(d)!).join(''));
      case 'wrong': { // microdescriptors of other relays than those asked for
        const others = big.digests.filter((d) => !digests.includes(d)).slice(0, digests.length);
        return enc(others.map((d) => mdByDigest.get(d)!).join(''));
      }
      case 'garbage':
        return enc('this is not a microdescriptor\n');
      case 'failing':
        throw new ChannelError(`${c.id} refused the stream`);
      case 'silent':
        return await new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new TelescopeError(`${c.id} aborted`))));
    }
  } finally {
    c.active--;
  }
}

async function download(state: DirectoryState, caches: FakeCache[], extra: { parallelism?: number; attempts?: number; events?: string[] } = {}) {
  const batches = state.nextRequests(now).map((r) => r.digests!);
  const { events, ...limits } = extra;
  const record = (line: string) => events?.push(line);
  const result = await downloadMicrodescs(batches, {
    sources: caches,
    fetch: (c, digests, signal) => {
      record(`ask ${c.id}`);
      return serve(c, digests, signal);
    },
    log: { ...silentLogger, info: (m: string) => { const id = /^microdescriptor cache (\S+):/.exec(m)?.[1]; if (id) record(`charge ${id}`); } },
    apply: (body, digests) => state.addMicrodescBatch(new TextDecoder('latin1').decode(body), digests),
    timeoutMs: 200,
    random: () => 0,
    ...limits,
  });
  return { batches, result };
}

describe('downloadMicrodescs', () => {
  it('spreads tor-sized batches over several caches, at most `parallelism` in flight, and gets them all', async () => {
    const state = stateWithConsensus();
    const caches = [cache('A', 'good'), cache('B', 'good'), cache('C', 'good')];
    const { batches, result } = await download(state, caches, { parallelism: 4 });
    // 300 missing: tor asks for ceil(300/3) = 100, capped at 92 per request.
    expect(batches.map((b) => b.length)).toEqual([92, 92, 92, 24]);
    expect(result).toEqual({ answered: 4, gaveUp: [], charges: [] });
    expect(state.microdescCoverage()).toEqual({ have: 300, total: 300 });
    expect(caches.every((c) => c.asked.length >= 1)).toBe(true);
    const total = caches.reduce((n, c) => n + c.maxActive, 0);
    expect(total).toBeLessThanOrEqual(4);
    expect(Math.max(...caches.map((c) => c.asked.length))).toBe(2);
  });

  it('never has more requests in flight than allowed, even with one cache', async () => {
    const state = stateWithConsensus();
    const only = cache('bridge', 'good');
    const { result } = await download(state, [only], { parallelism: 2 });
    expect(result.gaveUp).toEqual([]);
    expect(only.asked.length).toBe(4);
    expect(only.maxActive).toBe(2);
  });

  it('retries a batch on another cache when one fails, never hangs on a silent one, and charges both', async () => {
    const state = stateWithConsensus();
    const silent = cache('silent', 'silent');
    const failing = cache('failing', 'failing');
    const good = cache('good', 'good');
    const { result } = await download(state, [silent, failing, good]);
    expect(state.microdescCoverage()).toEqual({ have: 300, total: 300 });
    expect(result.gaveUp).toEqual([]);
    expect(result.charges.some((c) => c.source === 'silent' && /no answer in 200 ms/.test(c.reason))).toBe(true);
    expect(result.charges.some((c) => c.source === 'failing' && /refused the stream/.test(c.reason))).toBe(true);
    expect(result.charges.every((c) => c.source !== 'good')).toBe(true);
    // Every batch a bad cache got went on to another cache.
    const askedOfBad = [...silent.asked, ...failing.asked].flat();
    for (const d of askedOfBad) expect(good.asked.flat()).toContain(d);
  });

  it('drops microdescriptors nobody asked for, charges the cache, and gets the right ones elsewhere', async () => {
    const state = stateWithConsensus();
    const wrong = cache('wrong', 'wrong');
    const good = cache('good', 'good');
    const { result } = await download(state, [wrong, good]);
    expect(state.microdescCoverage()).toEqual({ have: 300, total: 300 });
    expect(result.charges.filter((c) => c.source === 'wrong').length).toBeGreaterThan(0);
    expect(result.charges.every((c) => c.source === 'wrong' && /not asked for/.test(c.reason))).toBe(true);
    // Nothing the wrong cache sent was kept from its answer: what it was asked for came from the other.
    for (const batch of wrong.asked) for (const d of batch) expect(good.asked.flat()).toContain(d);
  });

  it('asks another cache for what an answer left out', async () => {
    const state = stateWithConsensus();
    const lacking = cache('lacking', 'lacking');
    const good = cache('good', 'good');
    const { result } = await download(state, [lacking, good]);
    expect(state.microdescCoverage()).toEqual({ have: 300, total: 300 });
    expect(result.charges).toEqual([]);
    const fromLacking = lacking.asked.flat();
    const leftOut = lacking.asked.flatMap((b) => b.filter((_, i) => i % 2 === 1));
    expect(leftOut.length).toBeGreaterThan(0);
    for (const d of leftOut) expect(good.asked.flat()).toContain(d);
    expect(new Set(fromLacking).size).toBe(fromLacking.length);
  });

  it('gives up on digests after the attempts, and on caches charged too often', async () => {
    const state = stateWithConsensus();
    const a = cache('A', 'garbage');
    const b = cache('B', 'failing');
    const events: string[] = [];
    const { batches, result } = await download(state, [a, b], { attempts: 3, events });
    expect(new Set(result.gaveUp)).toEqual(new Set(batches.flat()));
    expect(result.gaveUp.length).toBe(300);
    expect(state.microdescCoverage().have).toBe(0);
    expect(result.charges.some((c) => c.source === 'A' && c.reason.length > 0)).toBe(true);
    // Once a cache has been charged 3 times (maxFailuresPerSource) it is asked nothing more;
    // requests already in flight may still add charges.
    for (const id of ['A', 'B']) {
      const third = events.map((e, i) => (e === `charge ${id}` ? i : -1)).filter((i) => i >= 0)[2];
      expect(third).toBeDefined();
      expect(events.slice(third! + 1)).not.toContain(`ask ${id}`);
    }
    // Given-up digests, released as the client does, are asked for by a later download.
    state.requestFailed(microdescRequest(result.gaveUp));
    expect(state.nextRequests(now).flatMap((r) => r.digests!).length).toBe(300);
  });

  it('with no cache at all gives up at once', async () => {
    const state = stateWithConsensus();
    const { result } = await download(state, []);
    expect(result.gaveUp.length).toBe(300);
    expect(result.answered).toBe(0);
  });

  it('a bug (an error that is not a directory failure) stops the download with that error', async () => {
    const state = stateWithConsensus();
    const bug = new RangeError('a bug');
    const e = await rejection(downloadMicrodescs([state.nextRequests(now)[0]!.digests!], {
      sources: [cache('A', 'good')],
      fetch: async () => enc(''),
      apply: () => { throw bug; },
    }));
    expect(e).toBe(bug);
  });

  it('an answer that does not parse is a ProtocolError from the state, charged to the cache', async () => {
    const state = stateWithConsensus();
    expect(thrown(() => state.addMicrodescBatch('this is not a microdescriptor\n', ['x']))).toBeInstanceOf(ProtocolError);
    const { result } = await download(state, [cache('G', 'garbage'), cache('ok', 'good')]);
    expect(result.gaveUp).toEqual([]);
    expect(result.charges.every((c) => c.source === 'G')).toBe(true);
  });
});
