import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import { parseAuthCerts, parseMicrodescs } from '../netdoc/index.ts';
import { MemoryStore } from '../util/index.ts';
import { DirectoryState } from './bootstrap.ts';
import { DirectoryStore } from './directory-store.ts';
import { FULL_SIZE } from '../testing/full-size.ts';

/**
 * DirectoryState and DirectoryStore with the public network of 2026-01-29
 * (netdoc/fixtures/live-2026-01-29/README.md): the real 3.4 MiB consensus, its nine signatures and
 * 450 of its microdescriptors, stored and loaded again as a restarted client would.
 */
const fixtures = new URL('../netdoc/fixtures/live-2026-01-29/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, fixtures));
const latin1 = (b: Uint8Array) => new TextDecoder('latin1').decode(b);
// Before fresh-until (07:00), so no newer consensus is due yet.
const now = new Date('2026-01-29T06:30:00Z');
const consensusText = latin1(brotliDecompressSync(read('consensus-microdesc.br')));
const certsText = latin1(read('authority-certs.txt'));
const mdText = latin1(brotliDecompressSync(read('microdescriptors-sample.br')));
const sample = parseMicrodescs(mdText);
const authorities = parseAuthCerts(certsText).map((c) => ({ fingerprint: c.unchecked.fingerprint }));

function loaded(): DirectoryState {
  const s = new DirectoryState(authorities, { random: () => 0 });
  expect(s.addCerts(certsText, now)).toBe(9);
  expect(s.addConsensus(consensusText, now)).toBe('accepted');
  expect(s.addMicrodescBatch(mdText, sample.map((m) => m.digestBase64))).toEqual({ added: 450, unrequested: 0, missing: [] });
  return s;
}

describe('the live directory of 2026-01-29 in DirectoryState', FULL_SIZE, () => {
  it('a restart loads it from the store and verifies it again, asking only for the microdescriptors it never had', async () => {
    const store = new MemoryStore();
    await new DirectoryStore(store).save(loaded());
    const restarted = new DirectoryState(authorities, { random: () => 0 });
    expect(await new DirectoryStore(store).restoreInto(restarted, now)).toEqual([]);
    expect(restarted.current!.signedBy).toHaveLength(9);
    expect(restarted.consensusText()).toBe(consensusText);
    expect(restarted.microdescCoverage()).toEqual({ have: 450, total: 9_745 });
    const requests = restarted.nextRequests(now);
    expect(requests.every((r) => r.kind === 'microdescs')).toBe(true);
    expect(requests.flatMap((r) => r.digests!).length).toBe(9_745 - 450);
    expect(Math.max(...requests.map((r) => r.digests!.length))).toBe(92);
  });

  it('members of one family share one family list; the texts stay as fetched', () => {
    const s = loaded();
    const digests = sample.map((m) => m.digestBase64);
    expect(s.microdescTexts(digests)).toEqual(sample.map((m) => m.text));
    const dir = new Map<string, readonly string[]>();
    let shared = 0;
    for (const relay of buildFamilies(s, digests)) {
      const line = relay.join(' ');
      const first = dir.get(line);
      if (first) { expect(relay).toBe(first); shared++; } else dir.set(line, relay);
    }
    expect(shared).toBeGreaterThan(50);
  });
});

/** The family lists the state holds for these digests (read back through the microdescriptors it keeps). */
function buildFamilies(s: DirectoryState, digests: readonly string[]): (readonly string[])[] {
  return digests.map((d) => s.microdescFor(d)!.family).filter((f) => f.length > 0);
}
