import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { toBase64, toHex, utf8 } from '../bytes/index.ts';
import { ProtocolError, TelescopeError } from '../util/index.ts';
import { parseConsensus } from './consensus.ts';
import { parseMicrodescs, partitionByDigest } from './microdesc.ts';
import microdescs from './fixtures/dirmgr/microdescs.txt?raw';
import md1 from './fixtures/dirmgr/mdconsensus1.txt?raw';
import md2 from './fixtures/dirmgr/mdconsensus2.txt?raw';
import td2Microdescs from './fixtures/testdata2/cached-microdescs.txt?raw';
import td2Consensus from './fixtures/testdata2/cached-microdesc-consensus.txt?raw';
import liveMicrodescs from './fixtures/live/microdescs.txt?raw';
import liveConsensus from './fixtures/live/consensus-microdesc.txt?raw';
import microdesc1 from './fixtures/netdoc/microdesc1.txt?raw';
import microdesc2 from './fixtures/netdoc/microdesc2.txt?raw';
import microdesc3 from './fixtures/netdoc/microdesc3.txt?raw';
import microdesc4 from './fixtures/netdoc/microdesc4.txt?raw';
import bogusPolicy from './fixtures/netdoc/bad-mds/bogus-policy.txt?raw';
import nonAsciiPolicy from './fixtures/netdoc/bad-mds/non-ascii-policy.txt?raw';
import wrongId from './fixtures/netdoc/bad-mds/wrong-id.txt?raw';
import wrongStart from './fixtures/netdoc/bad-mds/wrong-start.txt?raw';
import { thrown } from '../testing/thrown.ts';
import { lineEdit, mutateLines } from '../testing/mutate-lines.ts';

const mLines = (consensus: string) => new Set(parseConsensus(consensus).unchecked.routers.map((r) => r.microdescDigestBase64));

describe('microdescriptors', () => {
  it('digests match the consensus "m" lines they were fetched for', () => {
    // microdescs.txt belongs to mdconsensus2 (all 4 listed), not mdconsensus1 (none listed).
    const mds = parseMicrodescs(microdescs);
    expect(mds.length).toBe(4);
    for (const md of mds) expect(mLines(md2).has(md.digestBase64)).toBe(true);
    expect(mds.filter((md) => mLines(md1).has(md.digestBase64)).length).toBe(0);
    // tor 0.4.9 network (testdata2): 7 of 7; live network: 5 of 5.
    const td2 = parseMicrodescs(td2Microdescs);
    expect(td2.length).toBe(7);
    for (const md of td2) expect(mLines(td2Consensus).has(md.digestBase64)).toBe(true);
    const live = parseMicrodescs(liveMicrodescs);
    expect(live.length).toBe(5);
    for (const md of live) expect(mLines(liveConsensus).has(md.digestBase64)).toBe(true);
  });

  it('digests the exact text from "onion-key" through the last newline', () => {
    const mds = parseMicrodescs(microdescs);
    expect(mds.map((m) => m.text).join('')).toBe(microdescs);
    for (const md of mds) {
      expect(md.text.startsWith('onion-key\n')).toBe(true);
      expect(toHex(md.digest)).toBe(toHex(sha256(utf8(md.text))));
      expect(md.digestBase64).toBe(toBase64(md.digest, false));
    }
  });

  it('reads the fields', () => {
    const [a, , , d] = parseMicrodescs(microdescs);
    expect(toBase64(a!.ntorOnionKey, false)).toBe('UTHMgMUssIcB0r5wY9b+3sfmFW9ii/Kktx/nMrZnaz8');
    expect(toBase64(a!.ed25519Id!, false)).toBe('G9p5nGpznNYTboOmx+6xxxKjSGoq2FYUU3MCIxHF/8k');
    expect(a!.policySummary).toBe('reject 1-65535'); // no "p" line
    expect(d!.policySummary).toBe('accept 1-65535');
    expect(d!.ipv6PolicySummary).toBe('reject 1-65535');
    expect(a!.family).toEqual([]);
    expect(a!.rsaId).toBeUndefined();

    const [m1] = parseMicrodescs(microdesc1);
    expect(m1!.family.length).toBeGreaterThan(10);
    expect(m1!.family[0]).toBe('$0BC8BA32CC3CB0F598E0C92778F7C0946DFBCE91');
    expect(m1!.policySummary.startsWith('accept 43,53,79-81,')).toBe(true);
    expect(m1!.ipv6PolicySummary.startsWith('accept 43,53,79-81,')).toBe(true);
  });

  it('accepts an onion-key without its TAP key (proposal 350) and reads family-ids', () => {
    const [m3] = parseMicrodescs(microdesc3);
    expect(m3!.ntorOnionKey.length).toBe(32); // "=" padding present here, absent elsewhere
    const m4 = parseMicrodescs(microdesc4);
    expect(m4.map((m) => m.familyIds)).toEqual([[], ['ed25519:dXMgdGhlIHRyaXVtcGguICAgIC1UaG9tYXMgUGFpbmU', 'other:Example']]);
    const live = parseMicrodescs(liveMicrodescs);
    expect(live.some((m) => m.familyIds.length === 1 && m.familyIds[0]!.startsWith('ed25519:'))).toBe(true);
  });

  it('skips tor cache annotations only when asked, keeping them out of the digest', () => {
    expect(() => parseMicrodescs(microdesc2)).toThrow(/annotation "@last-listed" not allowed/);
    const mds = parseMicrodescs(microdesc2, { allowAnnotations: true });
    expect(mds.length).toBe(4);
    for (const md of mds) {
      expect(md.text.startsWith('onion-key\n')).toBe(true);
      expect(md.text).not.toContain('@');
    }
    expect(() => parseMicrodescs('@a\n', { allowAnnotations: true })).toThrow(/annotation without a microdescriptor/);
  });

  it('splits by the digests a consensus lists', () => {
    const mds = parseMicrodescs(microdescs + td2Microdescs);
    const { known, unknown } = partitionByDigest(mds, mLines(td2Consensus));
    expect([known.length, unknown.length]).toEqual([7, 4]);
  });

  const badFixtures: [string, string, RegExp][] = [
    ['bogus-policy', bogusPolicy, /line 9 \("p6"\): bad port or range "whatever"/],
    ['non-ascii-policy', nonAsciiPolicy, /line 9: character U\+00ac is not printable ASCII/],
    ['wrong-start', wrongStart, /line 1 \("family"\): microdescriptor must start with "onion-key"/],
  ];
  for (const [name, text, message] of badFixtures) {
    it(`rejects arti's bad-mds/${name}`, () => {
      const e = thrown(() => parseMicrodescs(text));
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as Error).message).toMatch(message);
    });
  }

  it('ignores an "id" line of an unknown key type, as dir-spec requires (bad-mds/wrong-id)', () => {
    const [md] = parseMicrodescs(wrongId);
    expect(md!.ed25519Id).toBeUndefined();
    expect(md!.rsaId).toBeUndefined();
  });

  it('rejects other malformed microdescriptors', () => {
    const base = microdescs.split('onion-key\n').filter(Boolean).map((s) => `onion-key\n${s}`)[3]!;
    const cases: [string, RegExp][] = [
      [base.replace(/^ntor-onion-key .*\n/m, ''), /missing "ntor-onion-key"/],
      [base.replace(/^(ntor-onion-key .*\n)/m, '$1$1'), /appears more than once/],
      [base.replace('ntor-onion-key SQlPiALwH4S5gEEYKbrGL2Wsee4QEupm8LTrhCQYH3M', 'ntor-onion-key SQlPiALwH4S5gEEYKbrGL2Wsee4QEupm8LTrhCQ'), /ntor onion key is 29 bytes, expected 32/],
      [base.replace(/^(id ed25519 .*\n)/m, '$1$1'), /two "id ed25519" lines/],
      [base.replace('p accept 1-65535', 'p accept 0-65535'), /bad port or range "0-65535"/],
      [base.replace('p accept 1-65535', 'p accept 80-22'), /bad port or range "80-22"/],
      [base.replace('p accept 1-65535', 'p allow 1-65535'), /must start with accept or reject/],
      [base.replace('p accept 1-65535', 'p accept'), /needs 2 argument/],
      [base.replace('onion-key\n', 'onion-key x\n'), /takes no arguments/],
      [base.replace(/RSA PUBLIC KEY/g, 'ED25519 CERT'), /expected "RSA PUBLIC KEY"/],
    ];
    for (const [text, message] of cases) {
      const e = thrown(() => parseMicrodescs(text));
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as Error).message).toMatch(message);
    }
  });

  it('returns nothing for an empty answer', () => {
    expect(parseMicrodescs('')).toEqual([]);
  });
});

/** Apply line-level edits (delete, duplicate, swap, change a character) to a document. */

const edit = lineEdit([' ', 'x', '-', '=', '0', '\n', 'A', '', ',', '@']);

describe('microdescriptor properties', () => {
  it('random text gives a TelescopeError, never another exception', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 200 }), fc.string().map((s) => `onion-key\n${s}\n`)), (input) => {
        try {
          parseMicrodescs(input, { allowAnnotations: typeof input === 'string' });
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
    );
  });

  it('edited microdescriptors parse (with digests of their own text) or give a TelescopeError', () => {
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        const text = mutateLines(microdescs + td2Microdescs, edits);
        try {
          for (const md of parseMicrodescs(text)) {
            expect(md.digest).toEqual(sha256(utf8(md.text)));
            expect(text.includes(md.text)).toBe(true);
          }
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
