import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64, toBase64, utf8 } from '../bytes/index.ts';
import { RsaPublicKey } from '../crypto/index.ts';
import { parseAuthCerts } from './authcert.ts';
import { ConsensusRejectedError, parseConsensus, supportsProtocol, type AuthorityId } from './consensus.ts';
import { parseMicrodescs } from './microdesc.ts';
import { thrown } from '../testing/thrown.ts';

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
/** Inside the consensus' validity (06:00–09:00) and the dannenberg certificate's (to 2026-02-23). */
const now = new Date('2026-01-29T07:30:00Z');
const dannenberg = parseAuthCerts(new TextDecoder().decode(read('authority-cert-dannenberg.txt'))).map((c) => c.check(now));
const longclawKeyDer = fromBase64(new TextDecoder().decode(read('signing-key-longclaw.txt')).replace(/-----[A-Z ]+-----|\s/g, ''));
/** The nine authorities that voted, as a client configured with them would list them. */
const allNine: AuthorityId[] = consensus.dirSources.map((d) => ({ fingerprint: d.identity }));

/** The ConsensusRejectedError `f` throws (the test fails on any other outcome). */
function rejected(f: () => unknown): ConsensusRejectedError {
  const e = thrown(f);
  expect(e).toBeInstanceOf(ConsensusRejectedError);
  return e as ConsensusRejectedError;
}

/** Lines of the raw text that start with `keyword ` (an independent count of items). */
const rawLines = (keyword: string) => text.split('\n').filter((l) => l.startsWith(`${keyword} `));

describe('live consensus 2026-01-29: parsing', () => {
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
    const req = consensus.requiredClientProtocols!;
    expect([...req.keys()]).toEqual(['Cons', 'Desc', 'FlowCtrl', 'Link', 'Microdesc', 'Relay']);
    expect(supportsProtocol(req, 'Link', 4)).toBe(true);
    expect(supportsProtocol(req, 'Link', 5)).toBe(false);
    expect(supportsProtocol(consensus.recommendedClientProtocols, 'Link', 5)).toBe(true);
    expect(supportsProtocol(consensus.recommendedClientProtocols, 'Relay', 4)).toBe(true);
    expect(supportsProtocol(consensus.requiredRelayProtocols, 'LinkAuth', 3)).toBe(true);
    expect(supportsProtocol(consensus.requiredRelayProtocols, 'HSIntro', 5)).toBe(true);
    expect([...consensus.recommendedRelayProtocols!.keys()]).toHaveLength(11);
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

describe('live consensus 2026-01-29: microdescriptors', () => {
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

describe('live consensus 2026-01-29: signatures', () => {
  /** dir-spec: the signed text runs from "network-status-version" through "directory-signature ". */
  const signedText = text.slice(0, text.indexOf('\ndirectory-signature ') + '\ndirectory-signature '.length);

  it('the signed digest covers the text up to the first directory-signature keyword and its space', () => {
    expect(text.startsWith('network-status-version 3 microdesc\n')).toBe(true);
    expect(unverified.signedDigest('sha256')).toEqual(sha256(utf8(signedText)));
  });

  it('dannenberg\'s signature verifies with its certificate (published 2025-02-23, current on the day)', () => {
    expect(dannenberg).toHaveLength(1);
    const cert = dannenberg[0]!;
    expect(cert.fingerprint).toBe(DANNENBERG);
    expect(cert.signingKeyDigest).toBe(consensus.signatures[0]!.signingKeyDigest);
    expect(cert.isCurrent(now, 0)).toBe(true);
    expect(cert.signingKey.verifyRawDigest(consensus.signatures[0]!.signature, unverified.signedDigest('sha256'))).toBe(true);
    // One digit added to the first relay's weight breaks it.
    const tampered = parseConsensus(text.replace('Bandwidth=', 'Bandwidth=1'));
    expect(cert.signingKey.verifyRawDigest(tampered.unchecked.signatures[0]!.signature, tampered.signedDigest('sha256'))).toBe(false);
  });

  it('longclaw\'s signature verifies with its signing key (no certificate found: the key is not bound to longclaw here)', () => {
    const key = RsaPublicKey.fromPkcs1Der(longclawKeyDer);
    const sig = consensus.signatures.find((s) => s.identity === LONGCLAW)!;
    expect(sig.signingKeyDigest).toBe('E3FF1BECB2667D1220838562CBAE41BC07C97720');
    expect(key.verifyRawDigest(sig.signature, unverified.signedDigest('sha256'))).toBe(true);
    // It is not dannenberg's signature, nor a signature over the sha1 digest.
    expect(key.verifyRawDigest(consensus.signatures[0]!.signature, unverified.signedDigest('sha256'))).toBe(false);
    expect(key.verifyRawDigest(sig.signature, unverified.signedDigest('sha1'))).toBe(false);
  });

  it('the seven signatures without a key are not dannenberg\'s or longclaw\'s', () => {
    const longclaw = RsaPublicKey.fromPkcs1Der(longclawKeyDer);
    const digest = unverified.signedDigest('sha256');
    for (const sig of consensus.signatures.slice(2)) {
      expect(dannenberg[0]!.signingKey.verifyRawDigest(sig.signature, digest), sig.identity).toBe(false);
      expect(longclaw.verifyRawDigest(sig.signature, digest), sig.identity).toBe(false);
    }
  });
});

describe('live consensus 2026-01-29: the majority rule', () => {
  it('with all nine authorities configured, one verifiable signature is refused: 1 of 9, 5 needed, the eight missing certificates named', () => {
    const e = rejected(() => unverified.check(allNine, dannenberg, now));
    expect(e.reason).toBe('not-enough-signatures');
    expect(e.kind).toBe('not-enough-signatures');
    expect([e.validSignatures, e.required, e.authorities]).toEqual([1, 5, 9]);
    expect(e.message).toContain('1 of 9');
    expect(e.missingCerts).toEqual(consensus.signatures.slice(1).map((s) => ({ identity: s.identity, signingKeyDigest: s.signingKeyDigest })));
  });

  it('with no certificate at all, nothing verifies and all nine certificates are asked for', () => {
    const e = rejected(() => unverified.check(allNine, [], now));
    expect([e.validSignatures, e.required]).toEqual([0, 5]);
    expect(e.missingCerts.map((m) => m.identity)).toEqual(allNine.map((a) => a.fingerprint));
  });

  it('authorities that did not sign count against the majority and ask for no certificate', () => {
    const unknown = ['AA', 'BB'].map((b) => ({ fingerprint: b.repeat(20) }));
    const e = rejected(() => unverified.check([{ fingerprint: DANNENBERG }, ...unknown], dannenberg, now));
    expect([e.validSignatures, e.required, e.authorities]).toEqual([1, 2, 3]);
    expect(e.missingCerts).toEqual([]);
  });

  it('a set in which dannenberg is the majority accepts it, and only then', () => {
    const accepted = unverified.check([{ fingerprint: DANNENBERG }], dannenberg, now);
    expect(accepted.signedBy).toEqual([DANNENBERG]);
    expect(accepted.routers.length).toBe(9745);
    // With longclaw too, two signatures are needed and longclaw's certificate is the one missing.
    const e = rejected(() => unverified.check([{ fingerprint: DANNENBERG }, { fingerprint: LONGCLAW }], dannenberg, now));
    expect([e.validSignatures, e.required]).toEqual([1, 2]);
    expect(e.missingCerts).toEqual([{ identity: LONGCLAW, signingKeyDigest: 'E3FF1BECB2667D1220838562CBAE41BC07C97720' }]);
  });

  it('a tampered consensus loses dannenberg\'s signature', () => {
    const tampered = parseConsensus(text.replace('Bandwidth=', 'Bandwidth=1'));
    const e = rejected(() => tampered.check([{ fingerprint: DANNENBERG }], dannenberg, now));
    expect([e.validSignatures, e.required]).toEqual([0, 1]);
  });

  it('outside its validity it is refused for time before signatures are counted', () => {
    const late = new Date('2026-01-29T09:00:01Z');
    const e = rejected(() => unverified.check([{ fingerprint: DANNENBERG }], dannenberg, late));
    expect(e.reason).toBe('expired');
    const early = rejected(() => unverified.check([{ fingerprint: DANNENBERG }], dannenberg, new Date('2026-01-29T05:59:59Z')));
    expect(early.reason).toBe('not-yet-valid');
  });
});
