import { describe, expect, it } from 'vitest';
import { parseMicrodescs } from '../shared/netdoc/index.ts';
import { readLiveFixture, microdescDigest, splitMicrodescs, standInAddress, standInWeightLine, REAL_RELAY_BANDWIDTH } from './scale.ts';

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

  it('weighs the real relays at the most tor counts, and the stand-ins as the live network divided by 1,000', () => {
    // tor turns a w Bandwidth (kilobytes) into bytes in a signed 32-bit integer, capped there.
    expect(REAL_RELAY_BANDWIDTH * 1000).toBeLessThanOrEqual(2 ** 31 - 1);
    expect((REAL_RELAY_BANDWIDTH + 1) * 1000).toBeGreaterThan(2 ** 31 - 1);
    expect(standInWeightLine('w Bandwidth=123456')).toBe('w Bandwidth=123');
    expect(standInWeightLine('w Bandwidth=20 Unmeasured=1')).toBe('w Bandwidth=1 Unmeasured=1');
    expect(standInWeightLine('w Bandwidth=0')).toBe('w Bandwidth=0');
    const live = readLiveFixture().consensus.split('\n').filter((l) => l.startsWith('w '));
    const total = (lines: string[]) => lines.reduce((n, l) => n + Number(/Bandwidth=(\d+)/.exec(l)![1]), 0);
    expect(total(live)).toBe(218_165_105);
    const scaled = total(live.map(standInWeightLine));
    // Rounding moves it a little; the whole live network weighs about a tenth of one real relay.
    expect(scaled).toBeGreaterThan(218_000);
    expect(scaled).toBeLessThan(219_500);
  });
});
