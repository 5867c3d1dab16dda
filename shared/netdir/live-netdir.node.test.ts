import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import { toHex } from '../bytes/index.ts';
import { parseAuthCerts, parseConsensus, parseMicrodescs, type Microdesc } from '../netdoc/index.ts';
import { buildNetDir } from './build.ts';
import { findRelay, supportsExtend2, supportsHsDirV3, supportsHsIntroDoS, supportsHsIntroV3, supportsHsRendV3 } from './netdir.ts';
import { FULL_SIZE } from '../testing/full-size.ts';

/**
 * NetDir over the public network of 2026-01-29 (netdoc/fixtures/live-2026-01-29/README.md): the
 * consensus, verified by the majority rule with the nine authorities and their certificates of that
 * day, joined with the 450 sample microdescriptors.
 */
const fixtures = new URL('../netdoc/fixtures/live-2026-01-29/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, fixtures));
const brotliText = (name: string) => new TextDecoder().decode(brotliDecompressSync(read(name)));

const now = new Date('2026-01-29T07:30:00Z');
const certs = parseAuthCerts(new TextDecoder().decode(read('authority-certs.txt'))).map((c) => c.check(now));
const consensus = parseConsensus(brotliText('consensus-microdesc.br')).check(certs.map((c) => ({ fingerprint: c.fingerprint })), certs, now);
const sample = parseMicrodescs(brotliText('microdescriptors-sample.br'));
const byDigest = new Map<string, Microdesc>(sample.map((m) => [m.digestBase64, m]));

describe('NetDir of the live network (2026-01-29)', FULL_SIZE, () => {
  const dir = buildNetDir(consensus, byDigest);

  it('holds exactly the relays whose microdescriptor it has, in consensus order: a relay without one is left out', () => {
    const expected = consensus.routers.filter((r) => byDigest.has(r.microdescDigestBase64));
    expect(expected.length).toBe(450);
    expect(dir.relays.map((r) => r.fingerprint)).toEqual(expected.map((r) => toHex(r.identity).toUpperCase()));
    const without = consensus.routers.find((r) => !byDigest.has(r.microdescDigestBase64))!;
    expect(findRelay(dir, toHex(without.identity))).toBeUndefined();
  });

  it('each relay joins its consensus entry (address, flags, weight, protocols) with its microdescriptor (keys, family, policy)', () => {
    const routers = new Map(consensus.routers.map((r) => [toHex(r.identity).toUpperCase(), r]));
    for (const relay of dir.relays) {
      const rs = routers.get(relay.fingerprint)!;
      const md = byDigest.get(rs.microdescDigestBase64)!;
      expect(relay.nickname).toBe(rs.nickname);
      expect([...relay.ipv4.address].join('.')).toBe(rs.ipv4);
      expect(relay.ipv4.port).toBe(rs.orPort);
      expect(relay.flags).toBe(rs.flags);
      expect(relay.bandwidth).toBe(rs.bandwidth);
      expect(relay.ntorOnionKey).toEqual(md.ntorOnionKey);
      expect(relay.ed25519Identity).toEqual(md.ed25519Id);
      expect(relay.family.length).toBe(md.family.length);
      expect(relay.ipv6 !== undefined).toBe(rs.addresses.some((a) => a.family === 6));
      expect(relay.protocols.equals(rs.protocols)).toBe(true);
    }
    // The sample has exits whose policy summaries the NetDir reads.
    const exits = dir.relays.filter((r) => r.flags.has('Exit'));
    expect(exits.length).toBeGreaterThan(0);
    expect(exits.some((r) => r.exitPolicy.allowsPort(443))).toBe(true);
    expect(dir.relays.some((r) => !r.exitPolicy.allowsPort(443))).toBe(true);
  });

  it('carries the consensus-wide data path selection and onion services read', () => {
    expect(dir.weights.get('Wgg')).toBe(5883);
    expect(dir.params.get('cc_alg')).toBe(2);
    expect(dir.votingIntervalSeconds).toBe(3600);
    expect(dir.validUntil.toISOString()).toBe('2026-01-29T09:00:00.000Z');
    expect(dir.sharedRandCurrent?.length).toBe(32);
    expect(dir.sharedRandPrevious?.length).toBe(32);
  });

  it('its relays advertise what the role predicates read, counted on the raw pr lines', () => {
    const raw = brotliText('consensus-microdesc.br');
    // Each relay's pr line as the document writes it, in consensus order.
    const prLines = raw.split('\n').filter((l) => l.startsWith('pr ')).map((l) => l.slice(3));
    expect(prLines.length).toBe(consensus.routers.length);
    const rawFor = new Map(consensus.routers.map((r, i) => [toHex(r.identity).toUpperCase(), prLines[i]!]));
    const count = (pred: (r: (typeof dir.relays)[number]) => boolean) => dir.relays.filter(pred).length;
    const countRaw = (re: RegExp) => dir.relays.filter((r) => re.test(rawFor.get(r.fingerprint)!)).length;
    // Relay=1-4 or Relay=2-N: every listed relay today does EXTEND2.
    expect(count(supportsExtend2)).toBe(countRaw(/\bRelay=(1-[2-9]|2)/));
    expect(count(supportsExtend2)).toBe(450);
    expect(count(supportsHsDirV3)).toBe(countRaw(/\bHSDir=2\b/));
    expect(count(supportsHsIntroV3)).toBe(countRaw(/\bHSIntro=4-5\b|\bHSIntro=4\b/));
    expect(count(supportsHsIntroDoS)).toBe(countRaw(/\bHSIntro=4-5\b/));
    expect(count(supportsHsRendV3)).toBe(countRaw(/\bHSRend=1-2\b|\bHSRend=2\b/));
    for (const r of dir.relays) expect(r.protocols.toString()).toBe(rawFor.get(r.fingerprint));
  });

  it('with no microdescriptors it is empty, though the consensus lists 9,745 relays', () => {
    expect(consensus.routers.length).toBe(9745);
    expect(consensus.signedBy).toHaveLength(9);
    expect(buildNetDir(consensus, new Map()).relays).toEqual([]);
  });

  it('relays with the same family line, exit policy summary or protocol list share one object for it', () => {
    const byLine = new Map<string, (typeof dir.relays)[number]['family']>();
    let sharedFamilies = 0;
    for (const relay of dir.relays) {
      if (relay.family.length === 0) continue;
      const line = relay.family.join(' ');
      const first = byLine.get(line);
      if (first) { expect(relay.family).toBe(first); sharedFamilies++; } else byLine.set(line, relay.family);
    }
    // The sample holds several members of the same large families.
    expect(sharedFamilies).toBeGreaterThan(50);
    const policies = new Map(dir.relays.map((r) => [JSON.stringify(r.exitPolicy), r.exitPolicy]));
    for (const r of dir.relays) expect(r.exitPolicy).toBe(policies.get(JSON.stringify(r.exitPolicy)));
    expect(new Set(dir.relays.map((r) => r.protocols)).size).toBeLessThan(dir.relays.length / 4);
  });
});
