import { describe, expect, it } from 'vitest';
import { parseMicrodescs } from '../shared/netdoc/index.ts';
import { readLiveFixture, microdescDigest, splitMicrodescs, standInAddress } from './scale.ts';

/**
 * The scale network's building blocks that need no running network (buildScaleNetwork itself runs
 * against the private network in e2e/scale.e2e.test.ts): digests as dir-spec computes them, the
 * live sample read and split, and stand-in addresses that stay on loopback away from 127.0.0.x.
 */
describe('scale network', () => {
  it('splits the live sample into 450 microdescriptors whose digests are consensus m lines', () => {
    const live = readLiveFixture();
    expect(live.microdescs.size).toBe(450);
    const mLines = new Set([...live.consensus.matchAll(/^m (\S+)$/gm)].map((m) => m[1]));
    for (const d of live.microdescs.keys()) expect(mLines.has(d)).toBe(true);
    // The same digest the client's parser computes.
    const [first] = live.microdescs;
    expect(parseMicrodescs(first![1])[0]!.digestBase64).toBe(first![0]);
  });

  it('digests a microdescriptor as SHA-256 of its exact text, base64 without padding', () => {
    const md = 'onion-key\nntor-onion-key AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n';
    expect(microdescDigest(md)).toMatch(/^[A-Za-z0-9+/]{43}$/);
    expect(splitMicrodescs(md + md.replace('AAAA', 'BBBB')).size).toBe(2);
    expect(splitMicrodescs('garbage\n').size).toBe(0);
  });

  it('gives every stand-in its own 127.A.B.C address with A ≥ 1', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const a = standInAddress(i);
      const [x, y] = a.split('.').map(Number);
      expect(x).toBe(127);
      expect(y).toBeGreaterThanOrEqual(1);
      seen.add(a);
    }
    expect(seen.size).toBe(10_000);
    expect(() => standInAddress(-1)).toThrow(/no loopback address/);
    expect(() => standInAddress(126 * 65536)).toThrow(/no loopback address/);
  });
});
