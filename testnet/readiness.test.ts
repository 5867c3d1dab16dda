import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { parseConsensusEntries, parseMicrodescs } from './readiness.ts';

const id = (hex: string): string => Buffer.from(hex, 'hex').toString('base64').replace(/=+$/, '');

describe('readiness parsing', () => {
  it('reads nickname, fingerprint, flags and microdescriptor digest of each consensus entry', () => {
    const text = [
      'network-status-version 3 microdesc',
      `r test000a ${id('AA'.repeat(20))} 2026-12-03 13:00:00 127.0.0.1 5000 5001`,
      's Authority Running Valid HSDir',
      'm digestA',
      `r test006e ${id('0B'.repeat(20))} 2026-12-03 13:00:00 127.0.0.1 5002 5003`,
      's Exit Running Valid',
      'm digestB',
      'directory-footer',
      `r after ${id('CC'.repeat(20))} 2026-12-03 13:00:00 127.0.0.1 1 2`,
    ].join('\n');
    expect(parseConsensusEntries(text)).toEqual([
      { nickname: 'test000a', fingerprint: 'AA'.repeat(20), flags: ['Authority', 'Running', 'Valid', 'HSDir'], microdescDigest: 'digestA' },
      { nickname: 'test006e', fingerprint: '0B'.repeat(20), flags: ['Exit', 'Running', 'Valid'], microdescDigest: 'digestB' },
    ]);
  });

  it('splits microdescriptors at onion-key and digests each exact text', () => {
    const first = 'onion-key\nntor-onion-key bnRvcg\nid ed25519 ZWQ\n';
    const second = 'onion-key\nntor-onion-key c2Vjb25k\n';
    const digest = (s: string) => createHash('sha256').update(Buffer.from(s, 'latin1')).digest('base64').replace(/=+$/, '');
    expect(parseMicrodescs(first + second)).toEqual([
      { digest: digest(first), ntorOnionKey: 'bnRvcg', ed25519Identity: 'ZWQ' },
      { digest: digest(second), ntorOnionKey: 'c2Vjb25k', ed25519Identity: undefined },
    ]);
  });

  it('never throws on arbitrary directory text', () => {
    const line = fc.oneof(fc.string(), fc.constantFrom('r a b c d e f g', 's Running', 'm x', 'onion-key', 'directory-footer', 'ntor-onion-key'));
    fc.assert(
      fc.property(fc.array(line), (lines) => {
        const text = lines.join('\n');
        expect(Array.isArray(parseConsensusEntries(text))).toBe(true);
        expect(Array.isArray(parseMicrodescs(text))).toBe(true);
      }),
    );
  });
});
