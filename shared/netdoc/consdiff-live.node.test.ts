import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import { applyConsensusDiff, ConsensusDiffError, consensusDigestAsSigned, generateConsensusDiff } from './consdiff.ts';
import { parseConsensus } from './consensus.ts';
import { thrown } from '../testing/thrown.ts';

/**
 * Diffs over the public network's consensus of 2026-01-29 (9,745 relays): random edits of the
 * real text of the kinds an hour brings (relays leaving, arriving, changing flags and weights; a
 * new preamble; new signatures) must round-trip through generate and apply.
 */
const text = new TextDecoder().decode(brotliDecompressSync(readFileSync(new URL('./fixtures/live-2026-01-29/consensus-microdesc.br', import.meta.url))));
const lines = text.slice(0, -1).split('\n');
/** Line index of every router entry's "r" line, and of the first signature. */
const entryStarts = lines.flatMap((l, i) => (l.startsWith('r ') ? [i] : []));
const firstSignature = lines.findIndex((l) => l.startsWith('directory-signature '));
const footer = lines.indexOf('directory-footer');
const liveDigest = consensusDigestAsSigned(text);

/** The text with the given entries (by position) removed, modified or followed by a new one. */
function edited(edits: readonly { entry: number; kind: 'remove' | 'reweigh' | 'reflag' | 'add' }[], newPreamble: boolean, newSignatures: boolean): string {
  const byEntry = new Map(edits.map((e) => [e.entry % entryStarts.length, e.kind]));
  const out: string[] = [];
  for (let e = -1; e < entryStarts.length; e++) {
    const from = e < 0 ? 0 : entryStarts[e]!;
    const to = e + 1 < entryStarts.length ? entryStarts[e + 1]! : footer;
    let block = lines.slice(from, to);
    const kind = e < 0 ? undefined : byEntry.get(e);
    if (e < 0 && newPreamble) block = block.map((l) => (l.startsWith('valid-after ') ? 'valid-after 2026-01-29 07:00:00' : l.startsWith('params ') ? `${l} ExtraParam=1` : l));
    if (kind === 'remove') continue;
    if (kind === 'reweigh') block = block.map((l) => (l.startsWith('w ') ? 'w Bandwidth=12345' : l));
    if (kind === 'reflag') block = block.map((l) => (l.startsWith('s ') ? `${l} StaleDesc` : l));
    out.push(...block);
    if (kind === 'add') {
      // A new relay whose identity sorts right after this one's (its last base64 digit made '/', the
      // highest), so the entries stay in order.
      const r = block[0]!.split(' ');
      const id = r[2]!;
      if (!id.endsWith('/')) out.push(['r', 'newrelay', `${id.slice(0, -1)}/`, ...r.slice(3)].join(' '), 'm AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 's Fast Running Valid', 'v Tor 0.4.9.3', 'pr Link=1-5', 'w Bandwidth=1');
    }
  }
  out.push(...lines.slice(footer, firstSignature));
  out.push(...(newSignatures ? ['directory-signature sha256 0000000000000000000000000000000000000000 1111111111111111111111111111111111111111', '-----BEGIN SIGNATURE-----', 'AAAA', '-----END SIGNATURE-----'] : lines.slice(firstSignature)));
  return `${out.join('\n')}\n`;
}

describe('consensus diff over the live consensus', () => {
  // Hashing 3.5 MB with SHA3 in JavaScript is slow on a busy machine: no timing is asserted.
  it('apply(generate(live, edited), live) is edited, and the edited text still parses', { timeout: 180_000 }, () => {
    const edit = fc.record({ entry: fc.nat(entryStarts.length - 1), kind: fc.constantFrom('remove' as const, 'reweigh' as const, 'reflag' as const, 'add' as const) });
    fc.assert(fc.property(fc.array(edit, { maxLength: 300 }), fc.boolean(), fc.boolean(), (edits, pre, sigs) => {
      const target = edited(edits, pre, sigs);
      const diff = generateConsensusDiff(text, target);
      expect(applyConsensusDiff(text, diff, { baseDigestAsSigned: liveDigest })).toBe(target);
    }), { numRuns: 3, seed: 20260129 });
    // And the other way round (relays coming back, the old signatures restored).
    const target = edited([{ entry: 3, kind: 'add' }, { entry: 700, kind: 'remove' }, { entry: 9000, kind: 'reflag' }], true, true);
    expect(applyConsensusDiff(target, generateConsensusDiff(target, text))).toBe(text);
    expect(() => parseConsensus(edited([{ entry: 5, kind: 'add' }, { entry: 9, kind: 'remove' }], true, false))).not.toThrow();
  });

  it('a diff for the live consensus is refused by a slightly different one', { timeout: 60_000 }, () => {
    const target = edited([{ entry: 1, kind: 'reweigh' }], false, false);
    const diff = generateConsensusDiff(text, target);
    const otherBase = text.replace(/^w Bandwidth=\d+/m, 'w Bandwidth=1');
    const e = thrown(() => applyConsensusDiff(otherBase, diff));
    expect(e).toBeInstanceOf(ConsensusDiffError);
    expect((e as ConsensusDiffError).reason).toBe('base-mismatch');
  });
});
