import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { fromBase64, toHex } from '../bytes/index.ts';
import { TelescopeError } from '../util/index.ts';
import { parseAuthCerts, ConsensusDiffError, ConsensusRejectedError, consensusDigestAsSigned, generateConsensusDiff, parseConsensus, parseMicrodescs } from '../netdoc/index.ts';
import { DirectoryState, type DirRequest } from './bootstrap.ts';
import { syntheticDirectory } from '../netdoc/fixtures/synthetic-directory.ts';
import td2Consensus from '../netdoc/fixtures/testdata2/cached-microdesc-consensus.txt?raw';
import td2Certs from '../netdoc/fixtures/testdata2/cached-certs.txt?raw';
import td2Microdescs from '../netdoc/fixtures/testdata2/cached-microdescs.txt?raw';
import md1 from '../netdoc/fixtures/dirmgr/mdconsensus1.txt?raw';
import cert5696 from '../netdoc/fixtures/dirmgr/cert-5696.txt?raw';
import cert5A23 from '../netdoc/fixtures/dirmgr/cert-5A23.txt?raw';
import cert7C47 from '../netdoc/fixtures/dirmgr/cert-7C47.txt?raw';
import { thrown } from '../testing/thrown.ts';

const CONSENSUS_PATH = '/tor/status-vote/current/consensus-microdesc';

/** testdata2: a tor 0.4.9 test network; valid-after 00:02:20, fresh-until 00:02:40, valid-until 00:03:00. */
const td2Now = new Date('2000-01-01T00:02:30Z');
const td2Auths = parseAuthCerts(td2Certs).map((c) => ({ fingerprint: c.unchecked.fingerprint }));
const td2Mds = parseMicrodescs(td2Microdescs);
const td2Digests = parseConsensus(td2Consensus).unchecked.routers.map((r) => r.microdescDigestBase64);

/** dirmgr: mdconsensus1 and its three certificates (no matching microdescriptors). */
const md1Now = new Date('2020-08-07T12:43:00Z');
const md1Certs = cert5696 + cert5A23 + cert7C47;
const md1Auths = parseAuthCerts(md1Certs).map((c) => ({ fingerprint: c.unchecked.fingerprint }));

/** A DirectoryState for testdata2 that has its consensus and certificates. */
function td2WithConsensus(): DirectoryState {
  const s = new DirectoryState(td2Auths, { random: () => 0 });
  expect(s.addCerts(td2Certs, td2Now)).toBe(4);
  expect(s.addConsensus(td2Consensus, td2Now)).toBe('accepted');
  return s;
}

function readyTd2(): DirectoryState {
  const s = td2WithConsensus();
  s.nextRequests(td2Now);
  expect(s.addMicrodescs(td2Microdescs)).toEqual({ added: 7, unknown: 0 });
  return s;
}

function microdescDigestsOf(req: DirRequest): string[] {
  expect(req.kind).toBe('microdescs');
  expect(req.path.startsWith('/tor/micro/d/')).toBe(true);
  return req.path.slice('/tor/micro/d/'.length).split('-');
}

describe('DirectoryState with the testdata2 documents', () => {
  it('walks need-consensus → need-certs → need-microdescs → ready', () => {
    const s = new DirectoryState(td2Auths, { random: () => 0 });
    expect(s.phase(td2Now)).toBe('need-consensus');
    expect(s.nextRequests(td2Now)).toEqual([{ kind: 'consensus', path: CONSENSUS_PATH }]);
    expect(s.netDir(td2Now)).toBeUndefined();
    expect(s.current).toBeUndefined();

    expect(s.addConsensus(td2Consensus, td2Now)).toBe('need-certs');
    expect(s.phase(td2Now)).toBe('need-certs');
    const [certReq, ...rest] = s.nextRequests(td2Now);
    expect(rest).toEqual([]);
    expect(certReq!.kind).toBe('certs');
    expect(certReq!.path.startsWith('/tor/keys/fp-sk/')).toBe(true);
    const pairs = certReq!.path.slice('/tor/keys/fp-sk/'.length).split('+');
    const sigs = parseConsensus(td2Consensus).unchecked.signatures.map((x) => `${x.identity}-${x.signingKeyDigest}`);
    expect(new Set(pairs)).toEqual(new Set(sigs));
    expect(s.netDir(td2Now)).toBeUndefined();

    expect(s.addCerts(td2Certs, td2Now)).toBe(4);
    expect(s.phase(td2Now)).toBe('need-microdescs');
    expect(s.current?.signedBy.length).toBe(4);
    expect(s.netDir(td2Now)).toBeUndefined();
    const reqs = s.nextRequests(td2Now);
    expect(reqs.length).toBe(1);
    expect(new Set(microdescDigestsOf(reqs[0]!))).toEqual(new Set(td2Digests));
    expect(s.microdescCoverage()).toEqual({ have: 0, total: 7 });

    expect(s.addMicrodescs(td2Microdescs)).toEqual({ added: 7, unknown: 0 });
    expect(s.phase(td2Now)).toBe('ready');
    expect(s.missingMicrodescs()).toEqual([]);
    expect(s.netDir(td2Now)?.relays.length).toBe(7);
    expect(s.nextRequests(td2Now)).toEqual([]);
  });

  it('does not ask again for microdescriptors in flight, but does after the request failed', () => {
    const s = td2WithConsensus();
    const [req] = s.nextRequests(td2Now);
    expect(microdescDigestsOf(req!).length).toBe(7);
    expect(s.nextRequests(td2Now)).toEqual([]);
    expect(s.nextRequests(td2Now)).toEqual([]);
    s.requestFailed(req!);
    const again = s.nextRequests(td2Now);
    expect(again).toEqual([req]);
    // Failing a consensus or certificate request changes nothing here.
    s.requestFailed({ kind: 'consensus', path: CONSENSUS_PATH });
    expect(s.nextRequests(td2Now)).toEqual([]);
  });

  it('an answer with only some microdescriptors leaves the rest in flight until the request fails', () => {
    const s = td2WithConsensus();
    const [req] = s.nextRequests(td2Now);
    s.addMicrodescs(td2Mds.slice(0, 2).map((m) => m.text).join(''));
    expect(s.nextRequests(td2Now)).toEqual([]);
    s.requestFailed(req!);
    const again = s.nextRequests(td2Now);
    expect(again.length).toBe(1);
    expect(new Set(microdescDigestsOf(again[0]!))).toEqual(new Set(td2Mds.slice(2).map((m) => m.digestBase64)));
  });

  it('is ready only with at least 60% of the microdescriptors', () => {
    const s = td2WithConsensus();
    // 4 of 7 = 57%.
    expect(s.addMicrodescs(td2Mds.slice(0, 4).map((m) => m.text).join(''))).toEqual({ added: 4, unknown: 0 });
    expect(s.phase(td2Now)).toBe('need-microdescs');
    expect(s.netDir(td2Now)).toBeUndefined();
    // 5 of 7 = 71%.
    expect(s.addMicrodescs(td2Mds[4]!.text)).toEqual({ added: 1, unknown: 0 });
    expect(s.phase(td2Now)).toBe('ready');
    const dir = s.netDir(td2Now)!;
    // Relays without a microdescriptor are left out of the network view.
    expect(dir.relays.length).toBe(5);
    // The same microdescriptor again adds nothing.
    expect(s.addMicrodescs(td2Mds[4]!.text)).toEqual({ added: 0, unknown: 0 });
    expect(s.netDir(td2Now)).toBe(dir);
    expect(s.addMicrodescs(td2Mds[5]!.text + td2Mds[6]!.text).added).toBe(2);
    expect(s.netDir(td2Now)!.relays.length).toBe(7);
  });

  it('keeps only microdescriptors the consensus lists', () => {
    const s = td2WithConsensus();
    const other = syntheticDirectory(2).microdescs.join('');
    expect(s.addMicrodescs(other + td2Mds[0]!.text)).toEqual({ added: 1, unknown: 2 });
    expect(s.microdescCoverage()).toEqual({ have: 1, total: 7 });
  });

  it('builds the network view from the consensus and the microdescriptors', () => {
    const s = readyTd2();
    const dir = s.netDir(td2Now)!;
    const c = s.current!;
    expect(dir.validAfter).toEqual(c.validAfter);
    expect(dir.freshUntil).toEqual(c.freshUntil);
    expect(dir.validUntil).toEqual(c.validUntil);
    expect(dir.votingIntervalSeconds).toBe(20);
    expect(dir.params.get('cc_alg')).toBe(2);
    expect(dir.weights.get('Wgd')).toBe(3333);
    expect(dir.relays.map((r) => r.nickname)).toEqual(c.routers.map((r) => r.nickname));

    const r = dir.relays.find((x) => x.nickname === 'test002a')!;
    expect(r.fingerprint).toBe(toHex(fromBase64('JX0G8DYLsiRjiHJPEJ7AiVodQfs=')).toUpperCase());
    expect(r.rsaIdentity).toEqual(fromBase64('JX0G8DYLsiRjiHJPEJ7AiVodQfs='));
    expect([...r.flags].sort()).toEqual(['Authority', 'Exit', 'Fast', 'Guard', 'HSDir', 'Running', 'Stable', 'V2Dir', 'Valid']);
    expect(r.bandwidth).toBe(208);
    expect(r.ipv4).toEqual({ address: Uint8Array.of(127, 0, 0, 1), port: 5102 });
    expect(r.ipv6).toBeUndefined();
    expect(r.dirPort).toBe(7102);
    expect(r.protocols.ranges('Link')).toEqual([[3, 5]]);
    expect(r.protocols.ranges('Relay')).toEqual([[2, 6]]);

    for (const relay of dir.relays) {
      const rs = c.routers.find((x) => x.nickname === relay.nickname)!;
      const md = td2Mds.find((m) => m.digestBase64 === rs.microdescDigestBase64)!;
      expect(relay.ntorOnionKey).toEqual(md.ntorOnionKey);
      expect(relay.ed25519Identity).toEqual(md.ed25519Id);
      expect(relay.bandwidth).toBe(rs.bandwidth);
      expect(relay.family).toEqual([]);
      // Two of the relays publish "p accept 1-65535"; without a "p" line a relay exits nowhere.
      const exits = md.policySummary === 'accept 1-65535';
      expect(relay.exitPolicy.allowsPort(443)).toBe(exits);
      expect(relay.exitPolicy.allowsPort(1)).toBe(exits);
    }
    expect(dir.relays.filter((x) => x.exitPolicy.allowsPort(80)).length).toBe(2);
  });

  it('refuses a consensus with one byte altered: phase stays need-consensus', () => {
    const tampered = td2Consensus.replace('w Bandwidth=208 Unmeasured=1', 'w Bandwidth=209 Unmeasured=1');
    expect(tampered).not.toBe(td2Consensus);
    // Certificates first: refused at once.
    const s = new DirectoryState(td2Auths);
    s.addCerts(td2Certs, td2Now);
    const e = thrown(() => s.addConsensus(tampered, td2Now));
    expect(e).toBeInstanceOf(ConsensusRejectedError);
    expect((e as ConsensusRejectedError).reason).toBe('not-enough-signatures');
    expect(s.phase(td2Now)).toBe('need-consensus');
    expect(s.netDir(td2Now)).toBeUndefined();
    expect(s.current).toBeUndefined();
    expect(s.nextRequests(td2Now)).toEqual([{ kind: 'consensus', path: CONSENSUS_PATH }]);
    // Consensus first: it waits for certificates, which then refuse it.
    const t = new DirectoryState(td2Auths);
    expect(t.addConsensus(tampered, td2Now)).toBe('need-certs');
    expect(thrown(() => t.addCerts(td2Certs, td2Now))).toBeInstanceOf(ConsensusRejectedError);
    expect(t.phase(td2Now)).toBe('need-consensus');
    expect(t.netDir(td2Now)).toBeUndefined();
    // The good consensus is still accepted afterwards.
    expect(t.addConsensus(td2Consensus, td2Now)).toBe('accepted');
    expect(t.phase(td2Now)).toBe('need-microdescs');
  });

  it('refuses an expired or not yet valid consensus', () => {
    for (const now of [new Date('2000-01-01T00:03:01Z'), new Date('2000-01-01T00:02:19Z')]) {
      const s = new DirectoryState(td2Auths);
      s.addCerts(td2Certs, td2Now);
      const e = thrown(() => s.addConsensus(td2Consensus, now));
      expect(e).toBeInstanceOf(ConsensusRejectedError);
      expect(['expired', 'not-yet-valid']).toContain((e as ConsensusRejectedError).reason);
      expect(s.phase(now)).toBe('need-consensus');
      expect(s.netDir(now)).toBeUndefined();
      // Without certificates the time check still refuses it outright (no pointless cert fetch).
      const t = new DirectoryState(td2Auths);
      expect(thrown(() => t.addConsensus(td2Consensus, now))).toBeInstanceOf(ConsensusRejectedError);
      expect(t.phase(now)).toBe('need-consensus');
    }
    // A tolerance for clock skew lets a slightly late one in.
    const lenient = new DirectoryState(td2Auths, { skewMs: 60_000 });
    const late = new Date('2000-01-01T00:03:30Z');
    lenient.addCerts(td2Certs, late);
    expect(lenient.addConsensus(td2Consensus, late)).toBe('accepted');
  });

  it('refuses a consensus that is not newer than the current one', () => {
    const s = readyTd2();
    const e = thrown(() => s.addConsensus(td2Consensus, td2Now));
    expect(e).toBeInstanceOf(ConsensusRejectedError);
    expect(s.phase(td2Now)).toBe('ready');
  });

  it('ignores certificates of authorities it does not trust', () => {
    const s = new DirectoryState(td2Auths.slice(0, 2));
    expect(s.addCerts(td2Certs, td2Now)).toBe(2);
    expect(s.addCerts(td2Certs, td2Now)).toBe(0); // already known
    // Two of two configured authorities signed: accepted.
    expect(s.addConsensus(td2Consensus, td2Now)).toBe('accepted');
  });

  it('needs a new consensus once the current one expires, and asks for a refresh after fresh-until', () => {
    const s = readyTd2();
    // random() = 0: refresh at fresh-until (00:02:40).
    expect(s.wantsRefresh(new Date('2000-01-01T00:02:39Z'))).toBe(false);
    const refreshAt = new Date('2000-01-01T00:02:45Z');
    expect(s.wantsRefresh(refreshAt)).toBe(true);
    expect(s.phase(refreshAt)).toBe('ready');
    // Both ask for a diff from the consensus held (a cache sends the whole one if it has none).
    const diffFrom = toHex(consensusDigestAsSigned(td2Consensus));
    expect(s.nextRequests(refreshAt)).toEqual([{ kind: 'consensus', path: CONSENSUS_PATH, diffFrom }]);
    const expired = new Date('2000-01-01T00:03:01Z');
    expect(s.phase(expired)).toBe('need-consensus');
    expect(s.netDir(expired)).toBeUndefined();
    expect(s.nextRequests(expired)).toEqual([{ kind: 'consensus', path: CONSENSUS_PATH, diffFrom }]);
  });

  it('stored() and restore() round-trip to the same network view', () => {
    const s = readyTd2();
    const stored = s.stored();
    expect(stored.consensus).toBe(td2Consensus);
    const r = new DirectoryState(td2Auths, { random: () => 0 });
    expect(r.restore(stored, td2Now)).toEqual([]);
    expect(r.phase(td2Now)).toBe('ready');
    expect(r.netDir(td2Now)).toEqual(s.netDir(td2Now));
    expect(r.stored()).toEqual(stored);
    // The stored form survives a JSON round trip, as a host would keep it.
    const viaJson = new DirectoryState(td2Auths);
    expect(viaJson.restore(JSON.parse(JSON.stringify(stored)) as typeof stored, td2Now)).toEqual([]);
    expect(viaJson.netDir(td2Now)).toEqual(s.netDir(td2Now));
  });

  it('restore() reports what it could not use instead of throwing', () => {
    const s = readyTd2();
    const stored = s.stored();
    // No certificates: the consensus cannot be verified and is not left pending.
    const noCerts = new DirectoryState(td2Auths);
    const problems = noCerts.restore({ consensus: stored.consensus! }, td2Now);
    expect(problems.length).toBe(1);
    expect(problems[0]).toMatch(/stored consensus/);
    expect(noCerts.phase(td2Now)).toBe('need-consensus');
    // Expired by now.
    const later = new DirectoryState(td2Auths);
    const late = new Date('2000-01-01T01:00:00Z');
    expect(later.restore(stored, late).some((p) => /stored consensus/.test(p))).toBe(true);
    expect(later.phase(late)).toBe('need-consensus');
    // Garbage everywhere.
    const junk = new DirectoryState(td2Auths);
    expect(junk.restore({ consensus: 'junk', certs: 'junk', microdescs: 'junk' }, td2Now).length).toBe(2);
    expect(junk.phase(td2Now)).toBe('need-consensus');
    // An empty store is fine.
    expect(new DirectoryState(td2Auths).restore({}, td2Now)).toEqual([]);
  });

  it('works with arti\'s mdconsensus1 too (no microdescriptors: stays at need-microdescs)', () => {
    const s = new DirectoryState(md1Auths);
    expect(s.addCerts(md1Certs, md1Now)).toBe(3);
    expect(s.addConsensus(md1, md1Now)).toBe('accepted');
    expect(s.phase(md1Now)).toBe('need-microdescs');
    expect(microdescDigestsOf(s.nextRequests(md1Now)[0]!).length).toBe(6);
    expect(s.netDir(md1Now)).toBeUndefined();
  });
});

describe('DirectoryState with a large (synthetic, correctly signed) directory', () => {
  const big = syntheticDirectory(250);
  const now = new Date(big.validAfter.getTime() + 60_000);

  it('asks for microdescriptors in tor\'s batches (at least 3 requests, 32 to 92 each), each digest once', () => {
    const s = new DirectoryState(big.authorities, { random: () => 0.5 });
    expect(s.addConsensus(big.consensus, now)).toBe('need-certs');
    expect(s.nextRequests(now)[0]!.path).toMatch(/^\/tor\/keys\/fp-sk\/[0-9A-F]{40}-[0-9A-F]{40}$/);
    expect(s.addCerts(big.cert, now)).toBe(1);
    expect(s.phase(now)).toBe('need-microdescs');
    const reqs = s.nextRequests(now);
    // 250 missing: ceil(250 / 3) = 84 per request.
    expect(reqs.map((r) => microdescDigestsOf(r).length)).toEqual([84, 84, 82]);
    for (const r of reqs) expect(r.digests).toEqual(microdescDigestsOf(r));
    const all = reqs.flatMap(microdescDigestsOf);
    expect(new Set(all).size).toBe(250);
    expect(new Set(all)).toEqual(new Set(big.digests));
    expect(s.nextRequests(now)).toEqual([]);
    // One batch fails: only its digests are asked for again, split by the same rule (84 → 32, 32, 20).
    s.requestFailed(reqs[1]!);
    const again = s.nextRequests(now);
    expect(again.map((r) => r.digests!.length)).toEqual([32, 32, 20]);
    expect(again.flatMap((r) => r.digests!)).toEqual(reqs[1]!.digests);
  });

  it('reaches ready at 60% of the relays and builds a NetDir usable for paths', () => {
    const s = new DirectoryState(big.authorities);
    s.addCerts(big.cert, now);
    s.addConsensus(big.consensus, now);
    s.addMicrodescs(big.microdescs.slice(0, 149).join(''));
    expect(s.phase(now)).toBe('need-microdescs');
    s.addMicrodescs(big.microdescs[149]!);
    expect(s.microdescCoverage()).toEqual({ have: 150, total: 250 });
    expect(s.phase(now)).toBe('ready');
    const dir = s.netDir(now)!;
    expect(dir.relays.length).toBe(150);
    expect(dir.relays.some((r) => r.flags.has('Guard'))).toBe(true);
    expect(dir.relays.filter((r) => r.flags.has('Exit')).every((r) => r.exitPolicy.allowsPort(443))).toBe(true);
  });

  it('asking for the network view again costs no scan of the relays (a relay asks on every connection)', () => {
    const s = new DirectoryState(big.authorities, { random: () => 0 });
    s.addCerts(big.cert, now);
    s.addConsensus(big.consensus, now);
    s.addMicrodescs(big.microdescs.join(''));
    const scans = vi.spyOn(s, 'missingMicrodescs');
    const first = s.netDir(now);
    for (let i = 0; i < 1000; i++) expect(s.netDir(now)).toBe(first);
    expect(scans.mock.calls.length).toBeLessThanOrEqual(1);
    // New microdescriptors are seen: the coverage is worked out again once.
    const fresh = new DirectoryState(big.authorities, { random: () => 0 });
    fresh.addCerts(big.cert, now);
    fresh.addConsensus(big.consensus, now);
    fresh.addMicrodescs(big.microdescs.slice(0, 10).join(''));
    expect(fresh.phase(now)).toBe('need-microdescs');
    fresh.addMicrodescs(big.microdescs.slice(10).join(''));
    expect(fresh.phase(now)).toBe('ready');
  });

  it('a newer consensus replaces the old one and drops microdescriptors it no longer lists', () => {
    const s = new DirectoryState(big.authorities, { random: () => 0 });
    s.addCerts(big.cert, now);
    s.addConsensus(big.consensus, now);
    s.addMicrodescs(big.microdescs.join(''));
    expect(s.phase(now)).toBe('ready');
    // An hour later a consensus with only 100 of the relays (same identities, same descriptors).
    const next = syntheticDirectory(100, new Date(big.validAfter.getTime() + 3600_000));
    const later = new Date(next.validAfter.getTime() + 60_000);
    expect(s.wantsRefresh(later)).toBe(true);
    expect(s.addConsensus(next.consensus, later)).toBe('accepted');
    expect(s.microdescCoverage()).toEqual({ have: 100, total: 100 });
    expect(s.netDir(later)!.relays.length).toBe(100);
    const kept = parseMicrodescs(s.stored().microdescs!);
    expect(kept.length).toBe(100);
    expect(new Set(kept.map((m) => m.digestBase64))).toEqual(new Set(next.digests));
  });
});

describe('DirectoryState: consensuses waiting for certificates', () => {
  it('a refreshed consensus signed with a new signing key gets its certificate fetched while the current one is in use', () => {
    const first = syntheticDirectory(20);
    const s = new DirectoryState(first.authorities, { random: () => 0 });
    const t0 = new Date(first.validAfter.getTime() + 60_000);
    s.addCerts(first.cert, t0);
    s.addConsensus(first.consensus, t0);
    s.addMicrodescs(first.microdescs.join(''));
    expect(s.phase(t0)).toBe('ready');
    // An hour later the authority has rotated its signing key.
    const next = syntheticDirectory(20, new Date(first.validAfter.getTime() + 3600_000), 1);
    const t1 = new Date(next.validAfter.getTime() + 60_000);
    expect(s.nextRequests(t1)).toEqual([{ kind: 'consensus', path: CONSENSUS_PATH, diffFrom: toHex(consensusDigestAsSigned(first.consensus)) }]);
    expect(s.addConsensus(next.consensus, t1)).toBe('need-certs');
    // The current consensus still works, and the new certificate is asked for now, not once it expired.
    expect(s.phase(t1)).toBe('ready');
    const reqs = s.nextRequests(t1);
    expect(reqs.map((r) => r.kind)).toEqual(['certs']);
    expect(reqs[0]!.path).toMatch(/^\/tor\/keys\/fp-sk\/[0-9A-F]{40}-[0-9A-F]{40}$/);
    expect(s.addCerts(next.cert, t1)).toBe(1);
    expect(s.current!.validAfter).toEqual(next.validAfter);
    expect(s.phase(t1)).toBe('ready');
  });

  it('gives up on a consensus whose certificates never came once it has expired', () => {
    const s = new DirectoryState(td2Auths);
    expect(s.addConsensus(td2Consensus, td2Now)).toBe('need-certs');
    expect(s.phase(td2Now)).toBe('need-certs');
    const later = new Date('2000-01-01T00:03:01Z');
    expect(s.phase(later)).toBe('need-consensus');
    expect(s.nextRequests(later)).toEqual([{ kind: 'consensus', path: CONSENSUS_PATH }]);
  });
});

describe('DirectoryState properties', () => {
  it('random documents fed in any order give TelescopeErrors, never other exceptions, and never a NetDir', () => {
    const doc = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.constantFrom(td2Consensus, td2Certs, td2Microdescs, md1, md1Certs),
      fc.tuple(fc.constantFrom(td2Consensus, td2Certs, td2Microdescs), fc.nat(), fc.constantFrom('x', ' ', '\n', '0', '=')).map(([t, i, c]) => {
        const at = i % t.length;
        return t.slice(0, at) + c + t.slice(at + 1);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('consensus', 'certs', 'microdescs'), doc), { maxLength: 6 }), (steps) => {
        const s = new DirectoryState(td2Auths, { random: () => 0 });
        for (const [kind, text] of steps) {
          try {
            if (kind === 'consensus') s.addConsensus(text, td2Now);
            else if (kind === 'certs') s.addCerts(text, td2Now);
            else s.addMicrodescs(text);
          } catch (e) {
            expect(e).toBeInstanceOf(TelescopeError);
          }
          const phase = s.phase(td2Now);
          expect(['need-consensus', 'need-certs', 'need-microdescs', 'ready']).toContain(phase);
          const dir = s.netDir(td2Now);
          if (phase !== 'ready') expect(dir).toBeUndefined();
          // Whatever got in is verified: a ready state always has the real consensus.
          if (dir) expect(s.current!.signedBy.length).toBeGreaterThanOrEqual(3);
          for (const r of s.nextRequests(td2Now)) expect(r.path.startsWith('/tor/')).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('DirectoryState and consensus diffs', () => {
  const first = syntheticDirectory(20);
  const next = syntheticDirectory(18, new Date(first.validAfter.getTime() + 3600_000));
  const third = syntheticDirectory(19, new Date(first.validAfter.getTime() + 7200_000));
  const during = (d: { validAfter: Date }) => new Date(d.validAfter.getTime() + 60_000);

  function holding(d: typeof first, opts: { keepPreviousConsensuses?: number } = {}): DirectoryState {
    const s = new DirectoryState(first.authorities, { random: () => 0, ...opts });
    s.addCerts(first.cert, during(d));
    expect(s.addConsensus(d.consensus, during(d))).toBe('accepted');
    return s;
  }

  it('asks for a diff from the consensus it holds (its SHA3-256 as signed), and for a whole one when it holds none', () => {
    expect(new DirectoryState(first.authorities).nextRequests(during(first))).toEqual([{ kind: 'consensus', path: CONSENSUS_PATH }]);
    const s = holding(first);
    const refresh = s.nextRequests(first.freshUntil).find((r) => r.kind === 'consensus');
    expect(refresh).toEqual({ kind: 'consensus', path: CONSENSUS_PATH, diffFrom: toHex(consensusDigestAsSigned(first.consensus)) });
  });

  it('applies a diff from its consensus and verifies the result like a whole consensus', () => {
    const s = holding(first);
    const r = s.addConsensusResponse(generateConsensusDiff(first.consensus, next.consensus), during(next));
    expect(r).toEqual({ outcome: 'accepted', fromDiff: true });
    expect(s.current!.validAfter).toEqual(next.validAfter);
    expect(s.consensusText()).toBe(next.consensus);
    expect(s.diffsApplied).toBe(1);
    // A whole consensus is still taken as before.
    expect(s.addConsensusResponse(third.consensus, during(third))).toEqual({ outcome: 'accepted', fromDiff: false });
  });

  it('refuses a diff from another consensus and keeps the one it has', () => {
    const s = holding(first);
    const e = thrown(() => s.addConsensusResponse(generateConsensusDiff(third.consensus, next.consensus), during(next)));
    expect(e).toBeInstanceOf(ConsensusDiffError);
    expect((e as ConsensusDiffError).reason).toBe('base-mismatch');
    expect(s.current!.validAfter).toEqual(first.validAfter);
    expect(s.diffsRefused).toBe(1);
    expect(thrown(() => new DirectoryState(first.authorities).addConsensusResponse(generateConsensusDiff(first.consensus, next.consensus), during(next)))).toBeInstanceOf(ConsensusDiffError);
  });

  it('refuses what a diff gives when its signature does not verify (the diff itself is unsigned)', () => {
    const s = holding(first);
    const forged = next.consensus.replace(/^w Bandwidth=\d+$/m, 'w Bandwidth=999999');
    expect(forged).not.toBe(next.consensus);
    const e = thrown(() => s.addConsensusResponse(generateConsensusDiff(first.consensus, forged), during(next)));
    expect(e).toBeInstanceOf(ConsensusRejectedError);
    expect(s.current!.validAfter).toEqual(first.validAfter);
    expect(s.diffsApplied).toBe(0);
  });

  it('a directory cache keeps the replaced consensuses it was asked to, newest first, to serve diffs from', () => {
    const s = holding(first, { keepPreviousConsensuses: 1 });
    expect(s.previousConsensusDigests()).toEqual([]);
    s.addConsensus(next.consensus, during(next));
    s.addConsensus(third.consensus, during(third));
    const nextDigest = toHex(consensusDigestAsSigned(next.consensus));
    expect(s.previousConsensusDigests()).toEqual([nextDigest]);
    expect(s.previousConsensus(nextDigest.toUpperCase())?.text).toBe(next.consensus);
    expect(s.previousConsensus(toHex(consensusDigestAsSigned(first.consensus)))).toBeUndefined();
    // A client keeps none.
    const client = holding(first);
    client.addConsensus(next.consensus, during(next));
    expect(client.previousConsensusDigests()).toEqual([]);
  });
});
