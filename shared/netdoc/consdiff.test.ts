import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toBase64, toHex } from '../bytes/index.ts';
import { ProtocolError } from '../util/index.ts';
import {
  ConsensusDiffError,
  applyConsensusDiff,
  consensusDigest,
  consensusDigestAsSigned,
  generateConsensusDiff,
  looksLikeConsensusDiff,
  parseConsensusDiff,
} from './consdiff.ts';
import { thrown } from '../testing/thrown.ts';
import torBase from './fixtures/consdiff-tor-0.4.9/consensus-1.txt?raw';
import torTarget from './fixtures/consdiff-tor-0.4.9/consensus-2.txt?raw';
import torDiff from './fixtures/consdiff-tor-0.4.9/diff-1-2.txt?raw';

const hex = (b: Uint8Array) => toHex(b).toUpperCase();

function diffError(f: () => unknown): ConsensusDiffError {
  const e = thrown(f);
  expect(e).toBeInstanceOf(ConsensusDiffError);
  return e as ConsensusDiffError;
}

/** A diff with the right digests for base → result around `script` (ed commands, each line ending \n). */
function diffFor(base: string, result: string, script: string): string {
  return `network-status-diff-version 1\nhash ${hex(consensusDigestAsSigned(base))} ${hex(consensusDigest(result))}\n${script}`;
}

describe('consensus diff: against tor', () => {
  it('applies the diff a tor 0.4.9 cache served between two consensuses of the private network', () => {
    expect(looksLikeConsensusDiff(torDiff)).toBe(true);
    expect(looksLikeConsensusDiff(torBase)).toBe(false);
    const parsed = parseConsensusDiff(torDiff);
    expect(hex(parsed.from)).toBe(hex(consensusDigestAsSigned(torBase)));
    expect(applyConsensusDiff(torBase, torDiff)).toBe(torTarget);
  });

  it('makes a diff of the same two consensuses that applies, and deletes the base signatures as tor\'s does', () => {
    const ours = generateConsensusDiff(torBase, torTarget);
    expect(applyConsensusDiff(torBase, ours)).toBe(torTarget);
    // Same header as tor's (both digests), and the same first command: the signatures go.
    expect(ours.split('\n').slice(0, 3)).toEqual(torDiff.split('\n').slice(0, 3));
  });

  it('reproduces tor\'s unit-test digests and script (test_consdiff_gen_diff)', () => {
    // The documents and expected output of tor's src/test/test_consdiff.c: digests as signed of
    // the base, of the whole target; the signatures deleted; "r ... aaa" added before "ccc".
    const base = 'network-status-version foo\nr name ccccccccccccccccc etc\nfoo\nr name eeeeeeeeeeeeeeeee etc\nbar\ndirectory-signature foo bar\nbar\n';
    const target = 'network-status-version foo\nr name aaaaaaaaaaaaaaaaa etc\nfoo\nr name ccccccccccccccccc etc\nbar\ndirectory-signature foo bar\nbar\n';
    expect(hex(consensusDigestAsSigned(base))).toBe('95D70F5A3CC65F920AA8B44C4563D7781A082674329661884E19E94B79D539C2');
    expect(hex(consensusDigest(target))).toBe('7AFECEFA4599BA33D603653E3D2368F648DF4AC4723929B0F7CF39281596B0C1');
    const ours = generateConsensusDiff(base, target);
    expect(applyConsensusDiff(base, ours)).toBe(target);
    const torScript = '6,$d\n3,4c\nbar\ndirectory-signature foo bar\n.\n1a\nr name aaaaaaaaaaaaaaaaa etc\nfoo\n.\n';
    expect(applyConsensusDiff(base, diffFor(base, target, torScript))).toBe(target);
    expect(ours.split('\n').slice(2).join('\n')).toBe(torScript);
  });

  it('applies a, c and d together in reverse order (tor\'s apply_ed_diff case)', () => {
    const base = 'A\nB\nC\nD\nE\n';
    const result = 'M\nA\nC\nT\nX\nE\n';
    expect(applyConsensusDiff(base, diffFor(base, result, '4c\nT\nX\n.\n2d\n0a\nM\n.\n'))).toBe(result);
  });
});

describe('consensus diff: refusals', () => {
  const base = 'network-status-version 3 microdesc\nr a AAAA x\nm 1\nr b BBBB x\nm 2\ndirectory-signature k d\nsig\n';
  const result = 'network-status-version 3 microdesc\nr a AAAA x\nm 9\ndirectory-signature k d\nsig\n';

  it('refuses a diff made from another consensus before applying anything', () => {
    const other = base.replace('m 1', 'm 0');
    const e = diffError(() => applyConsensusDiff(other, generateConsensusDiff(base, result)));
    expect(e.reason).toBe('base-mismatch');
    expect(e).toBeInstanceOf(ProtocolError);
    expect(e.kind).toBe('protocol-violation');
  });

  it('applies to another copy of the same consensus with other signatures (FROM covers the signed part)', () => {
    const resigned = base.replace('sig\n', 'another signature\n');
    expect(applyConsensusDiff(resigned, generateConsensusDiff(base, result))).toBe(result);
  });

  it('refuses a result whose digest is not the promised one', () => {
    const diff = generateConsensusDiff(base, result).replace('m 9', 'm 8');
    expect(diffError(() => applyConsensusDiff(base, diff)).reason).toBe('result-mismatch');
  });

  it.each([
    ['no version line', 'hash x y\n'],
    ['unknown version', 'network-status-diff-version 2\nhash A B\n'],
    ['no hash line', 'network-status-diff-version 1\n'],
    ['short digests', 'network-status-diff-version 1\nhash aaa bbb\n'],
    ['non-hex digests', `network-status-diff-version 1\nhash ${'?'.repeat(64)} ${'-'.repeat(64)}\n`],
    ['a fourth word', `network-status-diff-version 1\nhash ${'a'.repeat(64)} ${'b'.repeat(64)} c\n`],
    ['no final newline', 'network-status-diff-version 1'],
    ['a command without a number', 'SCRIPT:foobar\n'],
    ['a two-letter command', 'SCRIPT:1dd\n'],
    ['an unknown command', 'SCRIPT:1x\n'],
    ['$ with c', 'SCRIPT:1,$c\nx\n.\n'],
    ['a range with a', 'SCRIPT:1,2a\nx\n.\n'],
    ['a backwards range', 'SCRIPT:3,2d\n'],
    ['a one-line range', 'SCRIPT:2,2d\n'],
    ['insertion without its dot', 'SCRIPT:1a\nx\n'],
    ['an empty insertion', 'SCRIPT:1a\n.\n'],
    ['d of line 0', 'SCRIPT:0d\n'],
    ['a huge line number', 'SCRIPT:99999999999d\n'],
    ['an overlong command', `SCRIPT:${'1'.repeat(200)}d\n`],
  ])('refuses a malformed diff: %s', (_name, text) => {
    const full = text.startsWith('SCRIPT:') ? `network-status-diff-version 1\nhash ${'a'.repeat(64)} ${'b'.repeat(64)}\n${text.slice('SCRIPT:'.length)}` : text;
    expect(diffError(() => parseConsensusDiff(full)).reason).toBe('malformed');
  });

  it('refuses commands out of reverse order and past the end of the base', () => {
    expect(diffError(() => applyConsensusDiff(base, diffFor(base, result, '2d\n4d\n'))).detail).toMatch(/reverse order/);
    expect(diffError(() => applyConsensusDiff(base, diffFor(base, result, '40d\n'))).detail).toMatch(/past the end/);
    expect(diffError(() => applyConsensusDiff(base, diffFor(base, result, '40a\nx\n.\n'))).reason).toBe('malformed');
  });

  it('will not generate from unsorted entries, or a diff that must insert "."', () => {
    const unsorted = base.replace('r a AAAA', 'r a CCCC');
    expect(diffError(() => generateConsensusDiff(unsorted, result)).reason).toBe('cannot-generate');
    expect(diffError(() => generateConsensusDiff(base, result.replace('m 9', '.'))).reason).toBe('cannot-generate');
  });

  it('gives a ConsensusDiffError for any bytes, never another exception', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, withHeader) => {
      const junk = new TextDecoder('latin1').decode(bytes);
      const text = withHeader ? `network-status-diff-version 1\nhash ${'a'.repeat(64)} ${'b'.repeat(64)}\n${junk}` : junk;
      for (const f of [() => parseConsensusDiff(text), () => applyConsensusDiff(base, text)]) {
        try {
          f();
        } catch (e) {
          expect(e).toBeInstanceOf(ConsensusDiffError);
        }
      }
    }), { numRuns: 300 });
  });

  it('gives a ConsensusDiffError for random ed scripts against a real base, or applies them', () => {
    const line = fc.stringMatching(/^[a-z .]{0,6}$/);
    const command = fc.tuple(fc.nat(12), fc.option(fc.oneof(fc.nat(12), fc.constant('$'))), fc.constantFrom('a', 'c', 'd'), fc.array(line, { maxLength: 3 }))
      .map(([s, e, a, lines]) => `${s}${e === null ? '' : `,${e}`}${a}\n${a === 'd' ? '' : `${lines.join('\n')}${lines.length ? '\n' : ''}.\n`}`);
    fc.assert(fc.property(fc.array(command, { maxLength: 5 }), (cmds) => {
      try {
        applyConsensusDiff(base, diffFor(base, result, cmds.join('')));
      } catch (e) {
        expect(e).toBeInstanceOf(ConsensusDiffError);
      }
    }), { numRuns: 500 });
  });
});

/** A consensus-shaped document: preamble, sorted router entries of several lines, footer, signatures. */
interface Relay { id: Uint8Array; lines: string[] }
function consensusText(preamble: readonly string[], relays: readonly Relay[], signatures: readonly string[]): string {
  const sorted = [...relays].sort((a, b) => {
    for (let i = 0; i < 20; i++) if (a.id[i] !== b.id[i]) return a.id[i]! - b.id[i]!;
    return 0;
  });
  const entries = sorted.flatMap((r) => [`r nick ${toBase64(r.id, false)} 2026-01-01 00:00:00 10.0.0.1 9001 0`, ...r.lines]);
  return `network-status-version 3 microdesc\n${[...preamble, ...entries, 'directory-footer', ...signatures].map((l) => `${l}\n`).join('')}`;
}

const relayArb = fc.record({ id: fc.uint8Array({ minLength: 20, maxLength: 20 }), lines: fc.array(fc.constantFrom('m AAAA', 'm BBBB', 's Fast Running', 's Running', 'w Bandwidth=10', 'w Bandwidth=20', 'pr Link=1-5'), { minLength: 1, maxLength: 4 }) });
const uniqueRelays = fc.uniqueArray(relayArb, { maxLength: 25, selector: (r) => toHex(r.id) });
const preambleArb = fc.array(fc.constantFrom('vote-status consensus', 'valid-after 2026-01-01 00:00:00', 'valid-after 2026-01-01 01:00:00', 'params a=1', 'params a=2', 'dir-source x'), { maxLength: 5 });
const sigsArb = fc.array(fc.constantFrom('directory-signature sha256 A B', '-----BEGIN SIGNATURE-----', 'c2ln', '-----END SIGNATURE-----'), { minLength: 0, maxLength: 4 })
  .map((s) => (s.length ? ['directory-signature sha256 A B', ...s] : []));

describe('consensus diff: generate then apply', () => {
  it('apply(generate(a, b), a) is b for consensus-shaped documents with relays added, removed and changed', () => {
    fc.assert(fc.property(preambleArb, preambleArb, uniqueRelays, uniqueRelays, fc.array(fc.boolean(), { maxLength: 25 }), sigsArb, sigsArb, (pa, pb, relays, extra, keep, sa, sb) => {
      const a = consensusText(pa, relays, sa);
      // b keeps some of a's relays (some with changed lines), drops others and adds new ones.
      const kept = relays.filter((_, i) => keep[i] ?? true).map((r, i) => (i % 3 === 0 ? { ...r, lines: [...r.lines].reverse() } : r));
      const ids = new Set(kept.map((r) => toHex(r.id)));
      const b = consensusText(pb, [...kept, ...extra.filter((r) => !ids.has(toHex(r.id)))], sb);
      const diff = generateConsensusDiff(a, b);
      expect(applyConsensusDiff(a, diff)).toBe(b);
    }), { numRuns: 300 });
  });

  it('an unchanged consensus gives a diff that only swaps the signatures', () => {
    const a = consensusText(['vote-status consensus'], [{ id: new Uint8Array(20).fill(1), lines: ['m AAAA'] }], ['directory-signature sha256 A B', 'sig']);
    const diff = generateConsensusDiff(a, a);
    expect(diff.split('\n').slice(2)).toEqual(['6,$d', '5a', 'directory-signature sha256 A B', 'sig', '.', '']);
    expect(applyConsensusDiff(a, diff)).toBe(a);
  });
});
