import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import { sha256 } from '@noble/hashes/sha2.js';
import { toBase64, utf8 } from '../bytes/index.ts';
import { parseAuthCerts } from './authcert.ts';
import { ConsensusRejectedError, parseConsensus, type AuthorityId } from './consensus.ts';
import { parseMicrodescs } from './microdesc.ts';
import { thrown } from '../testing/thrown.ts';
import { FULL_SIZE } from '../testing/full-size.ts';

/**
 * The public network's microdesc consensus of 2026-01-29 06:00 (9,745 relays, 9 signatures) and
 * 450 microdescriptors of that day, unmodified (fixtures/live-2026-01-29/README.md says where
 * they and the authority keys come from). What the parser reads is checked against what a
 * line-by-line reading of the raw text says, so a parser that silently drops entries fails.
 */
const fixtures = new URL('./fixtures/live-2026-01-29/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, fixtures));
const text = new TextDecoder().decode(brotliDecompressSync(read('consensus-microdesc.br')));
const mdText = new TextDecoder().decode(brotliDecompressSync(read('microdescriptors-sample.br')));
const unverified = parseConsensus(text);
/** The parsed fields, read before any check (what the parser saw). */
const consensus = unverified.unchecked;

const DANNENBERG = '0232AF901C31A04EE9848595AF9BB7620D4C5B2E';
const LONGCLAW = '23D15D965BC35114467363C165C4F724B64B4F66';
/** Inside the consensus' validity (06:00–09:00) and every certificate's. */
const now = new Date('2026-01-29T07:30:00Z');
/** The nine authorities' certificates of that day, checked (certification, cross-certificate, validity at `now`). */
const certs = parseAuthCerts(new TextDecoder().decode(read('authority-certs.txt'))).map((c) => c.check(now));
/** The nine authorities that voted, as a client configured with them would list them. */
const allNine: AuthorityId[] = consensus.dirSources.map((d) => ({ fingerprint: d.identity }));
const certOf = (fingerprint: string) => certs.find((c) => c.fingerprint === fingerprint)!;

/** The ConsensusRejectedError `f` throws (the test fails on any other outcome). */
function rejected(f: () => unknown): ConsensusRejectedError {
  const e = thrown(f);
  expect(e).toBeInstanceOf(ConsensusRejectedError);
  return e as ConsensusRejectedError;
}

/** Lines of the raw text that start with `keyword ` (an independent count of items). */
const rawLines = (keyword: string) => text.split('\n').filter((l) => l.startsWith(`${keyword} `));

describe('live consensus 2026-01-29: parsing', FULL_SIZE, () => {
  it('reads all 9,745 router entries, in the text\'s order', () => {
    const r = rawLines('r');
    expect(r.length).toBe(9745);
    expect(consensus.routers.length).toBe(9745);
    // The nickname of each entry is the first field of its "r" line.
    expect(consensus.routers.map((x) => x.nickname)).toEqual(r.map((l) => l.split(' ')[1]));
    // Every entry's "m" line becomes its microdescriptor digest.
    expect(consensus.routers.map((x) => x.microdescDigestBase64)).toEqual(rawLines('m').map((l) => l.slice(2)));
  });

  it('reads the preamble: method, validity, voting delay', () => {
    expect(consensus.consensusMethod).toBe(33);
    expect(consensus.validAfter.toISOString()).toBe('2026-01-29T06:00:00.000Z');
    expect(consensus.freshUntil.toISOString()).toBe('2026-01-29T07:00:00.000Z');
    expect(consensus.validUntil.toISOString()).toBe('2026-01-29T09:00:00.000Z');
    expect([consensus.voteSeconds, consensus.distSeconds]).toEqual([300, 300]);
    expect(consensus.knownFlags).toEqual(['Authority', 'BadExit', 'Exit', 'Fast', 'Guard', 'HSDir', 'MiddleOnly', 'NoEdConsensus', 'Running', 'Stable', 'StaleDesc', 'Sybil', 'V2Dir', 'Valid']);
    expect(consensus.clientVersions).toContain('0.4.8.22');
  });

  it('reads every network parameter', () => {
    const raw = rawLines('params')[0]!.split(' ').slice(1);
    expect(consensus.params.size).toBe(raw.length);
    for (const kv of raw) {
      const [k, v] = kv.split('=');
      expect(consensus.params.get(k!), k).toBe(Number(v));
    }
    expect(consensus.param('cc_alg', 0)).toBe(2);
    expect(consensus.param('sendme_accept_min_version', 0)).toBe(1);
    expect(consensus.param('guard-n-primary-guards-to-use', 0)).toBe(2);
    // Not set on the live network: the default applies.
    expect(consensus.param('bwweightscale', 10000)).toBe(10000);
  });

  it('reads the required and recommended protocol lists', () => {
    const req = consensus.requiredClientProtocols;
    expect(req.names()).toEqual(['Cons', 'Desc', 'FlowCtrl', 'Link', 'Microdesc', 'Relay']);
    expect(req.supports('Link', 4)).toBe(true);
    expect(req.supports('Link', 5)).toBe(false);
    expect(consensus.recommendedClientProtocols.supports('Link', 5)).toBe(true);
    expect(consensus.recommendedClientProtocols.supports('Relay', 4)).toBe(true);
    expect(consensus.requiredRelayProtocols.supports('LinkAuth', 3)).toBe(true);
    expect(consensus.requiredRelayProtocols.supports('HSIntro', 5)).toBe(true);
    expect(consensus.recommendedRelayProtocols.names()).toHaveLength(11);
    // Each line's canonical encoding is the raw text: authorities write them sorted and merged.
    for (const [keyword, list] of [
      ['recommended-client-protocols', consensus.recommendedClientProtocols],
      ['recommended-relay-protocols', consensus.recommendedRelayProtocols],
      ['required-client-protocols', consensus.requiredClientProtocols],
      ['required-relay-protocols', consensus.requiredRelayProtocols],
    ] as const) {
      const raw = new RegExp(`^${keyword} (.*)$`, 'm').exec(text)![1]!;
      expect(list.toString()).toBe(raw);
    }
  });

  it('reads the bandwidth weights', () => {
    const raw = rawLines('bandwidth-weights')[0]!.split(' ').slice(1);
    expect(consensus.bandwidthWeights.size).toBe(19);
    for (const kv of raw) {
      const [k, v] = kv.split('=');
      expect(consensus.bandwidthWeights.get(k!), k).toBe(Number(v));
    }
    expect(consensus.bandwidthWeights.get('Wgg')).toBe(5883);
    expect(consensus.bandwidthWeights.get('Wme')).toBe(0);
  });

  it('reads every relay\'s flags, weight and addresses as the raw lines say', () => {
    const s = rawLines('s');
    const w = rawLines('w');
    expect(s.length).toBe(9745);
    expect(w.length).toBe(9745);
    consensus.routers.forEach((r, i) => {
      expect([...r.flags].join(' ')).toBe(s[i]!.slice(2));
      expect(r.bandwidth).toBe(Number(/Bandwidth=(\d+)/.exec(w[i]!)![1]));
      expect(r.unmeasured).toBe(/Unmeasured=1/.test(w[i]!));
    });
    expect(consensus.routers.filter((r) => r.flags.has('Guard')).length).toBe(6320);
    expect(consensus.routers.filter((r) => r.flags.has('Exit')).length).toBe(3004);
    expect(consensus.routers.filter((r) => r.unmeasured).length).toBe(34);
    expect(consensus.routers.reduce((n, r) => n + r.addresses.filter((a) => a.family === 6).length, 0)).toBe(rawLines('a').filter((l) => l.includes('[')).length);
  });

  it('reads the nine dir-sources and nine sha256 signatures, one per authority', () => {
    expect(consensus.dirSources.map((d) => d.nickname)).toEqual(['dannenberg', 'longclaw', 'bastet', 'tor26', 'maatuska', 'faravahar', 'dizum', 'gabelmoo', 'moria1']);
    expect(consensus.signatures.length).toBe(9);
    expect(consensus.signatures.map((s) => s.algorithm)).toEqual(Array(9).fill('sha256'));
    expect(consensus.signatures.map((s) => s.identity)).toEqual(consensus.dirSources.map((d) => d.identity));
    expect(consensus.signatures.map((s) => s.signingKeyDigest)).toEqual(rawLines('directory-signature').map((l) => l.split(' ')[3]));
    // As long as the signing key's modulus: 2048-bit keys, except tor26's 3072-bit one.
    expect(consensus.signatures.map((s) => s.signature.length)).toEqual([256, 256, 256, 384, 256, 256, 256, 256, 256]);
  });
});

describe('live consensus 2026-01-29: microdescriptors', FULL_SIZE, () => {
  const mds = parseMicrodescs(mdText);

  it('parses all 450 sample microdescriptors', () => {
    expect(mds.length).toBe(450);
    expect(mdText.split('\n').filter((l) => l === 'onion-key').length).toBe(450);
    expect(mds.every((m) => m.ntorOnionKey.length === 32)).toBe(true);
  });

  it('each digest is the SHA-256 of its text and an "m" line of the consensus', () => {
    const listed = new Set(consensus.routers.map((r) => r.microdescDigestBase64));
    for (const m of mds) {
      expect(toBase64(sha256(utf8(m.text)), false)).toBe(m.digestBase64);
      expect(listed.has(m.digestBase64), m.digestBase64).toBe(true);
    }
    // The 450 texts laid end to end are the whole sample: nothing between them was skipped.
    expect(mds.map((m) => m.text).join('')).toBe(mdText);
  });
});

describe('live consensus 2026-01-29: signatures', FULL_SIZE, () => {
  /** dir-spec: the signed text runs from "network-status-version" through "directory-signature ". */
  const signedText = text.slice(0, text.indexOf('\ndirectory-signature ') + '\ndirectory-signature '.length);

  it('the signed digest covers the text up to the first directory-signature keyword and its space', () => {
    expect(text.startsWith('network-status-version 3 microdesc\n')).toBe(true);
    expect(unverified.signedDigest('sha256')).toEqual(sha256(utf8(signedText)));
  });

  it('the fixture holds one current certificate per signing authority, with the signing key its signature names', () => {
    expect(certs.map((c) => c.fingerprint)).toEqual(allNine.map((a) => a.fingerprint));
    expect(certs.map((c) => c.signingKeyDigest)).toEqual(consensus.signatures.map((s) => s.signingKeyDigest));
    expect(certs.every((c) => c.isCurrent(now, 0))).toBe(true);
  });

  it('each of the nine directory-signatures verifies under its authority\'s signing key, and under no other', () => {
    const digest = unverified.signedDigest('sha256');
    consensus.signatures.forEach((sig, i) => {
      certs.forEach((cert, j) => {
        expect(cert.signingKey.verifyRawDigest(sig.signature, digest), `${consensus.dirSources[i]!.nickname} under ${consensus.dirSources[j]!.nickname}'s key`).toBe(i === j);
      });
      // Over the sha1 digest of the same text it is not a signature.
      expect(certOf(sig.identity).signingKey.verifyRawDigest(sig.signature, unverified.signedDigest('sha1'))).toBe(false);
    });
  });

  it('one digit added to a relay\'s weight breaks every signature', () => {
    const tampered = parseConsensus(text.replace('Bandwidth=', 'Bandwidth=1'));
    tampered.unchecked.signatures.forEach((sig) => {
      expect(certOf(sig.identity).signingKey.verifyRawDigest(sig.signature, tampered.signedDigest('sha256'))).toBe(false);
    });
  });
});

describe('live consensus 2026-01-29: the majority rule', FULL_SIZE, () => {
  it('with the nine authorities and their certificates it is accepted, signed by all nine', () => {
    const accepted = unverified.check(allNine, certs, now);
    expect(accepted.signedBy).toEqual(allNine.map((a) => a.fingerprint));
    expect(accepted.routers.length).toBe(9745);
  });

  it('with four of the nine certificates it is refused: 4 of 9, 5 needed, the five missing certificates named', () => {
    const e = rejected(() => unverified.check(allNine, certs.slice(0, 4), now));
    expect(e.reason).toBe('not-enough-signatures');
    expect(e.kind).toBe('not-enough-signatures');
    expect([e.validSignatures, e.required, e.authorities]).toEqual([4, 5, 9]);
    expect(e.message).toContain('4 of 9');
    expect(e.missingCerts).toEqual(consensus.signatures.slice(4).map((s) => ({ identity: s.identity, signingKeyDigest: s.signingKeyDigest })));
    // Five are a majority.
    expect(unverified.check(allNine, certs.slice(0, 5), now).signedBy).toHaveLength(5);
  });

  it('with no certificate at all nothing verifies and all nine certificates are asked for', () => {
    const e = rejected(() => unverified.check(allNine, [], now));
    expect([e.validSignatures, e.required]).toEqual([0, 5]);
    expect(e.missingCerts.map((m) => m.identity)).toEqual(allNine.map((a) => a.fingerprint));
  });

  it('configured authorities that did not sign count against the majority and ask for no certificate', () => {
    const unknown = ['AA', 'BB', 'CC', 'DD', 'EE', 'FF', '11', '22', '33', '44'].map((b) => ({ fingerprint: b.repeat(20) }));
    // 9 of 19 signed: not more than half.
    const e = rejected(() => unverified.check([...allNine, ...unknown], certs, now));
    expect([e.validSignatures, e.required, e.authorities]).toEqual([9, 10, 19]);
    expect(e.missingCerts).toEqual([]);
    // 9 of 17 is a majority.
    expect(unverified.check([...allNine, ...unknown.slice(0, 8)], certs, now).signedBy).toHaveLength(9);
  });

  it('a certificate vouches only for the authority it certifies', () => {
    // longclaw's certificate is no use for dannenberg's signature: dannenberg's is still wanted.
    const e = rejected(() => unverified.check([{ fingerprint: DANNENBERG }], [certOf(LONGCLAW)], now));
    expect([e.validSignatures, e.required]).toEqual([0, 1]);
    expect(e.missingCerts).toEqual([{ identity: DANNENBERG, signingKeyDigest: certOf(DANNENBERG).signingKeyDigest }]);
  });

  it('a tampered consensus is refused: none of the nine signatures verifies', () => {
    const tampered = parseConsensus(text.replace('Bandwidth=', 'Bandwidth=1'));
    const e = rejected(() => tampered.check(allNine, certs, now));
    expect([e.validSignatures, e.required]).toEqual([0, 5]);
    expect(e.missingCerts).toEqual([]);
  });

  it('outside its validity it is refused for time before signatures are counted', () => {
    const late = rejected(() => unverified.check(allNine, certs, new Date('2026-01-29T09:00:01Z')));
    expect(late.reason).toBe('expired');
    const early = rejected(() => unverified.check(allNine, certs, new Date('2026-01-29T05:59:59Z')));
    expect(early.reason).toBe('not-yet-valid');
  });
});
