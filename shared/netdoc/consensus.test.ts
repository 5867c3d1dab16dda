import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { toBase64, toHex, utf8 } from '../bytes/index.ts';
import { ProtocolError, TelescopeError, UsageError } from '../util/index.ts';
import { AuthCert, parseAuthCert, parseAuthCerts } from './authcert.ts';
import { Consensus, ConsensusRejectedError, parseConsensus, type AuthorityId } from './consensus.ts';
import md1 from './fixtures/dirmgr/mdconsensus1.txt?raw';
import md2 from './fixtures/dirmgr/mdconsensus2.txt?raw';
import cert5696 from './fixtures/dirmgr/cert-5696.txt?raw';
import cert5A23 from './fixtures/dirmgr/cert-5A23.txt?raw';
import cert7C47 from './fixtures/dirmgr/cert-7C47.txt?raw';
import td2Consensus from './fixtures/testdata2/cached-microdesc-consensus.txt?raw';
import td2Certs from './fixtures/testdata2/cached-certs.txt?raw';
import liveConsensus from './fixtures/live/consensus-microdesc.txt?raw';
import badFlags from './fixtures/netdoc/bad-mdconsensus/bad-flags.txt?raw';
import badMdDigest from './fixtures/netdoc/bad-mdconsensus/bad-md-digest.txt?raw';
import badParams from './fixtures/netdoc/bad-mdconsensus/bad-params.txt?raw';
import badWeight from './fixtures/netdoc/bad-mdconsensus/bad-weight.txt?raw';
import badWeights from './fixtures/netdoc/bad-mdconsensus/bad-weights.txt?raw';
import wrongOrder from './fixtures/netdoc/bad-mdconsensus/wrong-order.txt?raw';
import wrongStart from './fixtures/netdoc/bad-mdconsensus/wrong-start.txt?raw';
import wrongVersion from './fixtures/netdoc/bad-mdconsensus/wrong-version.txt?raw';
import { thrown } from '../testing/thrown.ts';
import { lineEdit, mutateLines } from '../testing/mutate-lines.ts';

const certs1: AuthCert[] = [cert5696, cert5A23, cert7C47].map((t) => parseAuthCert(t).check());
const auths1: AuthorityId[] = certs1.map((c) => ({ fingerprint: c.fingerprint }));
/** Inside mdconsensus1's validity (valid-after 12:42:40, valid-until 12:43:20). */
const now1 = new Date('2020-08-07T12:43:00Z');

describe('microdesc consensus: parsing', () => {
  const c = parseConsensus(md1);

  it('reads the preamble', () => {
    expect(c.unchecked.consensusMethod).toBe(28);
    expect(c.unchecked.validAfter.toISOString()).toBe('2020-08-07T12:42:40.000Z');
    expect(c.unchecked.freshUntil.toISOString()).toBe('2020-08-07T12:43:00.000Z');
    expect(c.unchecked.validUntil.toISOString()).toBe('2020-08-07T12:43:20.000Z');
    expect([c.unchecked.voteSeconds, c.unchecked.distSeconds]).toEqual([4, 4]);
    expect(c.unchecked.clientVersions).toEqual([]);
    expect(c.unchecked.knownFlags).toEqual(['Authority', 'Exit', 'Fast', 'Guard', 'HSDir', 'NoEdConsensus', 'Running', 'Stable', 'V2Dir', 'Valid']);
    expect(c.unchecked.requiredRelayProtocols.ranges('Link')).toEqual([[3, 4]]);
    expect(c.unchecked.recommendedClientProtocols.supports('Microdesc', 2)).toBe(true);
    expect(c.unchecked.recommendedClientProtocols.supports('Microdesc', 3)).toBe(false);
    expect(c.unchecked.params.size).toBe(0);
    expect(c.unchecked.sharedRandCurrent).toBeUndefined();
  });

  it('reads the authority section', () => {
    expect(c.unchecked.dirSources).toEqual([
      { nickname: 'test001a', identity: '5696AB38CB3852AFA476A5C07B2D4788963D5567', address: '127.0.0.1', ip: '127.0.0.1', dirPort: 7001, orPort: 5001, contact: 'auth1@test.test', voteDigest: '32902D6653D3CBD4F709C1E788E7188A4514B469' },
      { nickname: 'test000a', identity: '5A23BA701776C9C1AB1C06E734E92AB3D5350D64', address: '127.0.0.1', ip: '127.0.0.1', dirPort: 7000, orPort: 5000, contact: 'auth0@test.test', voteDigest: 'BD69154582ADD167985FBA5B6BEF39A48FCF57E4' },
      { nickname: 'test002a', identity: '7C47DCB4A90E2C2B7C7AD27BD641D038CF5D7EBE', address: '127.0.0.1', ip: '127.0.0.1', dirPort: 7002, orPort: 5002, contact: 'auth2@test.test', voteDigest: '279F105B47E08D18391BC83CA862AD7E949BF16B' },
    ]);
  });

  it('reads router entries', () => {
    expect(c.unchecked.routers.map((r) => r.nickname)).toEqual(['test002a', 'test005r', 'test001a', 'test003r', 'test004r', 'test000a']);
    const r = c.unchecked.routers[0]!;
    expect(toBase64(r.identity, false)).toBe('CjBXrykQQVeU2OpDAwnZrF9dUks');
    expect(r.published.toISOString()).toBe('2020-08-07T12:40:41.000Z');
    expect([r.ipv4, r.orPort, r.dirPort]).toEqual(['127.0.0.1', 5002, 7002]);
    expect(r.addresses).toEqual([{ ip: '::1', port: 5002, family: 6 }]);
    expect(r.microdescDigestBase64).toBe('c9q+CgRo9PemeBChjRHjZzG7HS7DY020WRAGCfOz9TU');
    expect(toBase64(r.microdescDigest, false)).toBe(r.microdescDigestBase64);
    expect([...r.flags]).toEqual(['Authority', 'Exit', 'Fast', 'Guard', 'HSDir', 'Running', 'Stable', 'V2Dir', 'Valid']);
    expect(r.version).toBe('Tor 0.3.5.11-dev');
    expect(r.protocols.ranges('LinkAuth')).toEqual([[1, 1], [3, 3]]);
    expect(r.protocols.supports('Relay', 2)).toBe(true);
    expect([r.bandwidth, r.unmeasured]).toEqual([0, true]);
    expect(c.unchecked.routers[1]!.flags.has('Authority')).toBe(false);
  });

  it('reads the footer and signatures', () => {
    expect(c.unchecked.bandwidthWeights.get('Wgg')).toBe(10000);
    expect(c.unchecked.bandwidthWeights.get('Wbd')).toBe(3333);
    expect(c.unchecked.bandwidthWeights.size).toBe(19);
    expect(c.unchecked.signatures.map((s) => [s.algorithm, s.identity, s.signingKeyDigest, s.signature.length])).toEqual([
      ['sha256', '5696AB38CB3852AFA476A5C07B2D4788963D5567', 'F6ED4AA64D83CAEDE34E19693A7FCF331AAE8A6A', 256],
      ['sha256', '5A23BA701776C9C1AB1C06E734E92AB3D5350D64', 'D08E965CC6DCB6CB6ED776DB43E616E93AF61177', 256],
      ['sha256', '7C47DCB4A90E2C2B7C7AD27BD641D038CF5D7EBE', 'D3C013E0E6C82E246090D1C0798B75FCB7ACF120', 256],
    ]);
  });

  it('digests the text through the space after the first "directory-signature"', () => {
    const end = md1.indexOf('\ndirectory-signature ') + '\ndirectory-signature '.length;
    expect(toHex(c.signedDigest('sha256'))).toBe(toHex(sha256(utf8(md1.slice(0, end)))));
    expect(c.signedDigest('sha1').length).toBe(20);
    expect(parseConsensus(utf8(md1)).signedDigest('sha256')).toEqual(c.signedDigest('sha256'));
  });

  it('reads a live consensus: shared random values, params, IPv6 addresses', () => {
    const live = parseConsensus(liveConsensus);
    expect(live.unchecked.consensusMethod).toBe(35);
    expect(live.unchecked.sharedRandCurrent?.reveals).toBe(9);
    expect(toBase64(live.unchecked.sharedRandCurrent!.value)).toBe('zwbAmnMGie00x5rmWGk+lP2rTXK2n0OmkF/1Ih4LcAI=');
    expect(toBase64(live.unchecked.sharedRandPrevious!.value)).toBe('B7WEEFCA6Jb1/tqV05207vqC/eJUlBPr7QemYm5FCCU=');
    expect(live.unchecked.params.get('cc_alg')).toBe(2);
    expect(live.unchecked.params.get('guard-n-primary-guards-to-use')).toBe(2);
    expect(live.unchecked.param('circwindow', 1000)).toBe(1000);
    expect(live.unchecked.clientVersions).toContain('0.4.9.6');
    expect(live.unchecked.dirSources.length).toBe(9);
    expect(live.unchecked.dirSources.find((d) => d.nickname === 'faravahar')?.contact).toBe('Sina Rabbani < sina redteam net >');
    expect(live.unchecked.routers.length).toBe(5);
    expect(live.unchecked.routers[0]!.addresses).toEqual([{ ip: '2a0a:4cc0:c1:2aac::1', port: 8443, family: 6 }]);
    expect(live.unchecked.routers.find((r) => r.nickname === 'd2d4')?.flags.has('Exit')).toBe(true);
    expect(live.unchecked.signatures.length).toBe(9);
  });

  const badFixtures: [string, string, RegExp][] = [
    ['bad-flags', badFlags, /line 27 \("s"\): flag "Muffins" is not in known-flags/],
    ['bad-md-digest', badMdDigest, /line 40 \("m"\): microdescriptor digest is 13 bytes/],
    ['bad-params', badParams, /line 15 \("params"\): "FoobarNotAParameter" is not Key=Value/],
    ['bad-weight', badWeight, /line 67 \("bandwidth-weights"\): Wgm "Hello" is not an integer/],
    ['bad-weights', badWeights, /line 51 \("w"\): Bandwidth "Fred" is not an integer/],
    ['wrong-order', wrongOrder, /line 52 \("r"\): router entries are not in ascending identity order/],
    ['wrong-start', wrongStart, /line 1 \("vote-status"\): document must start with "network-status-version"/],
    ['wrong-version', wrongVersion, /line 1 .*unsupported version "10"/],
  ];
  for (const [name, text, message] of badFixtures) {
    it(`rejects arti's bad-mdconsensus/${name} with a ProtocolError naming the line`, () => {
      const e = thrown(() => parseConsensus(text));
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as Error).message).toMatch(message);
    });
  }

  it('rejects other malformed consensuses', () => {
    const cases: [string, RegExp][] = [
      [md1.replace('network-status-version 3 microdesc', 'network-status-version 3'), /flavor is "ns"/],
      [md1.replace('vote-status consensus', 'vote-status vote'), /vote-status is "vote"/],
      [md1.replace(/^valid-until .*\n/m, ''), /missing "valid-until"/],
      [md1.replace(/^(valid-after .*\n)/m, '$1$1'), /line 5 .*appears more than once/],
      [md1.replace(/^m c9q.*\n/m, ''), /router entry has no "m" line/],
      [md1.replace(/^(s Exit Fast Guard.*\n)/m, '$1$1'), /appears more than once in a router entry/],
      [md1.replace('a [::1]:5002', 'a ::1:5002'), /is not address:port/],
      [md1.replace('r test002a', 'r test002a_bad'), /not a valid nickname/],
      [md1.replace('2020-08-07 12:40:41 127.0.0.1 5002', '2020-02-30 12:40:41 127.0.0.1 5002'), /not a valid time/],
      [md1.replace('Link=3-4 Microdesc=1 Relay=1-2', 'Link=3-4 Microdesc=1 Relay=2-1'), /bad version range "2-1"/],
      [md1.slice(0, md1.indexOf('directory-signature')), /no directory-signature/],
      [md1.replace('-----END SIGNATURE-----\n', '-----END SIGNATURE-----\nbandwidth-weights\n'), /only directory signatures may follow/],
      [md1.replace('directory-signature sha256 5696', 'directory-signature  sha256 5696'), /followed by a single space/],
      [md1.replace('directory-signature sha256 5696AB38CB3852AFA476A5C07B2D4788963D5567', 'directory-signature sha256 5696AB38'), /identity "5696AB38" is not 40 hex digits/],
    ];
    for (const [text, message] of cases) {
      const e = thrown(() => parseConsensus(text));
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as Error).message).toMatch(message);
    }
  });

  it('ignores unknown items and keeps the signed range exact', () => {
    const extra = md1.replace('known-flags', 'x-future-item 1 2 3\nknown-flags').replace('w Bandwidth=0 Unmeasured=1', 'w Bandwidth=0 Unmeasured=1 Future=7');
    const c2 = parseConsensus(extra);
    expect(c2.unchecked.routers.length).toBe(6);
    expect(c2.signedDigest('sha256')).not.toEqual(c.signedDigest('sha256'));
  });
});

describe('microdesc consensus: verification', () => {
  const c = parseConsensus(md1);

  it('accepts mdconsensus1 with the three certificates', () => {
    const v = c.check(auths1, certs1, now1);
    expect(v).toBeInstanceOf(Consensus);
    expect(v.signedBy).toEqual(auths1.map((a) => a.fingerprint));
    expect(v.routers.length).toBe(6);
    expect(c.missingCerts(auths1, certs1)).toEqual([]);
  });

  it('accepts the testdata2 consensus (tor 0.4.9, consensus method 35) with cached-certs', () => {
    const now = new Date('2000-01-01T00:02:30Z');
    const certs = parseAuthCerts(td2Certs).map((x) => x.check(now));
    const u = parseConsensus(td2Consensus);
    const v = u.check(certs, certs, now);
    expect(v.signedBy.length).toBe(4);
    expect(v.consensusMethod).toBe(35);
    expect(v.routers.length).toBe(7);
  });

  it('rejects mdconsensus2 (no certificates) and names the certificates to fetch', () => {
    const u = parseConsensus(md2);
    const auths = u.unchecked.dirSources.map((d) => ({ fingerprint: d.identity }));
    const now = new Date('2021-10-27T21:27:00Z');
    const e = thrown(() => u.check(auths, certs1, now));
    expect(e).toBeInstanceOf(ConsensusRejectedError);
    const r = e as ConsensusRejectedError;
    expect(r.reason).toBe('not-enough-signatures');
    expect([r.validSignatures, r.required, r.authorities]).toEqual([0, 2, 3]);
    expect(r.message).toMatch(/0 of 3 authorities' signatures verify, 2 needed/);
    expect(r.missingCerts.map((m) => m.identity)).toEqual(['17447C92250D02BF17EA127F4BFED73EDC351025', '80091EF12DCDF803E87AE7114E77E05C3FC3A61D', 'FB73296E2241B835A3ACBD4D2FC58A1864362779']);
    expect(u.missingCerts(auths, [])).toEqual(r.missingCerts);
    expect(r.missingCerts[0]!.signingKeyDigest).toMatch(/^[0-9A-F]{40}$/);
  });

  it('rejects a consensus with one byte of a signed part changed', () => {
    // "Bandwidth=0" -> "Bandwidth=1" for one relay: same length, still parses.
    const tampered = md1.replace('w Bandwidth=0 Unmeasured=1', 'w Bandwidth=1 Unmeasured=1');
    expect(tampered).not.toBe(md1);
    const e = thrown(() => parseConsensus(tampered).check(auths1, certs1, now1));
    expect(e).toBeInstanceOf(ConsensusRejectedError);
    expect((e as ConsensusRejectedError).reason).toBe('not-enough-signatures');
    // The space after the first "directory-signature" is the last signed byte: what follows (here
    // the first signature's algorithm) is not covered, and only that one signature stops verifying.
    const sigAlg = md1.replace('directory-signature sha256 5696', 'directory-signature sha1 5696');
    expect(parseConsensus(sigAlg).check(auths1, certs1, now1).signedBy.length).toBe(2);
  });

  it('rejects outside the validity interval, with a configurable tolerance', () => {
    const late = new Date(c.unchecked.validUntil.getTime() + 1000);
    const early = new Date(c.unchecked.validAfter.getTime() - 1000);
    const eLate = thrown(() => c.check(auths1, certs1, late));
    expect((eLate as ConsensusRejectedError).reason).toBe('expired');
    expect((eLate as Error).message).toMatch(/expired at 2020-08-07T12:43:20.000Z/);
    expect((thrown(() => c.check(auths1, certs1, early)) as ConsensusRejectedError).reason).toBe('not-yet-valid');
    expect(c.check(auths1, certs1, late, { skewMs: 5000 })).toBeInstanceOf(Consensus);
    expect(c.check(auths1, certs1, early, { skewMs: 5000 })).toBeInstanceOf(Consensus);
    expect(c.check(auths1, certs1, c.unchecked.validAfter)).toBeInstanceOf(Consensus);
    expect(c.check(auths1, certs1, c.unchecked.validUntil)).toBeInstanceOf(Consensus);
  });

  it('needs signatures from more than half of the configured authorities', () => {
    const [a, b] = certs1;
    // 2 of 3 configured: enough.
    expect(c.check(auths1, [a!, b!], now1).signedBy.length).toBe(2);
    const missing = c.missingCerts(auths1, [a!, b!]);
    expect(missing).toEqual([{ identity: '7C47DCB4A90E2C2B7C7AD27BD641D038CF5D7EBE', signingKeyDigest: 'D3C013E0E6C82E246090D1C0798B75FCB7ACF120' }]);
    // 1 of 3: not enough.
    const e = thrown(() => c.check(auths1, [a!], now1)) as ConsensusRejectedError;
    expect([e.reason, e.validSignatures, e.required]).toEqual(['not-enough-signatures', 1, 2]);
    // 3 of 6 configured (three others that did not sign): exactly half is not a majority.
    const others = ['1'.repeat(40), '2'.repeat(40), '3'.repeat(40)].map((fingerprint) => ({ fingerprint }));
    expect((thrown(() => c.check([...auths1, ...others], certs1, now1)) as ConsensusRejectedError).message).toMatch(/3 of 6 .* 4 needed/);
    // 3 of 5: a majority.
    expect(c.check([...auths1, ...others.slice(0, 2)], certs1, now1).signedBy.length).toBe(3);
    // Signatures by authorities the caller did not configure do not count.
    const onlyOne = [{ fingerprint: auths1[0]!.fingerprint.toLowerCase() }];
    expect(c.check(onlyOne, certs1, now1).signedBy).toEqual([auths1[0]!.fingerprint]);
  });

  it('does not count a signature checked against another authority\'s certificate or an expired one', () => {
    // A certificate for a different identity must not be used, even if offered.
    expect(() => c.check(auths1, [certs1[0]!, certs1[0]!, certs1[0]!], now1)).toThrow(/1 of 3/);
    // A certificate that expired before `now` does not count (built directly: no real one expires
    // inside mdconsensus1's 40-second validity).
    const expired = certs1.map((x, i) => (i === 0 ? new AuthCert({ ...x, expires: new Date('2020-08-07T12:42:00Z') }) : x));
    expect(c.check(auths1, expired, now1).signedBy).toEqual(auths1.slice(1).map((a) => a.fingerprint));
    expect(() => c.check(auths1.slice(0, 2), expired, now1)).toThrow(/1 of 2 .* 2 needed/);
  });

  it('refuses bad authority lists as a usage error', () => {
    expect(() => c.check([], certs1, now1)).toThrow(UsageError);
    expect(() => c.check([{ fingerprint: 'zz' }], certs1, now1)).toThrow(UsageError);
  });
});

/** Apply line-level edits (delete, duplicate, swap, change a character) to a document. */

const edit = lineEdit([' ', 'x', '-', '=', '0', '9', '\n', 'A', '', ',']);

describe('microdesc consensus properties', () => {
  it('random text gives a TelescopeError, never another exception', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 200 }), fc.string().map((s) => `network-status-version 3 microdesc\n${s}\n`)), (input) => {
        try {
          parseConsensus(input);
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
    );
  });

  it('edited consensuses parse or give a TelescopeError; verification fails with a TelescopeError', () => {
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        const text = mutateLines(md1, edits);
        try {
          parseConsensus(text).check(auths1, certs1, now1);
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('any change to a byte of the signed text is rejected', () => {
    const signedEnd = md1.indexOf('directory-signature ') + 'directory-signature '.length;
    fc.assert(
      fc.property(fc.nat(signedEnd - 1), fc.constantFrom(' ', 'x', '0', '1', 'Z', '\n', '='), (at, ch) => {
        fc.pre(md1[at] !== ch);
        const text = md1.slice(0, at) + ch + md1.slice(at + 1);
        const e = thrown(() => parseConsensus(text).check(auths1, certs1, now1));
        expect(e).toBeInstanceOf(TelescopeError);
      }),
      { numRuns: 150 },
    );
  });
});
