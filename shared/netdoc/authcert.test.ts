import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { utf8 } from '../bytes/index.ts';
import { CertificateError, ProtocolError, TelescopeError } from '../util/index.ts';
import { AuthCert, parseAuthCert, parseAuthCerts, UnverifiedAuthCert } from './authcert.ts';
import cert5696 from './fixtures/dirmgr/cert-5696.txt?raw';
import cert5A23 from './fixtures/dirmgr/cert-5A23.txt?raw';
import cert7C47 from './fixtures/dirmgr/cert-7C47.txt?raw';
import authcert1 from './fixtures/netdoc/authcert1.txt?raw';
import authcerts2 from './fixtures/netdoc/authcerts2.txt?raw';
import cachedCerts from './fixtures/testdata2/cached-certs.txt?raw';
import badCcTag from './fixtures/netdoc/bad-certs/bad-cc-tag.txt?raw';
import badFingerprint from './fixtures/netdoc/bad-certs/bad-fingerprint.txt?raw';
import badVersion from './fixtures/netdoc/bad-certs/bad-version.txt?raw';
import wrongEnd from './fixtures/netdoc/bad-certs/wrong-end.txt?raw';
import wrongStart from './fixtures/netdoc/bad-certs/wrong-start.txt?raw';
import { thrown } from '../testing/thrown.ts';
import { lineEdit, mutateLines } from '../testing/mutate-lines.ts';

describe('authority key certificates', () => {
  it('parses and verifies the chutney network certificates', () => {
    const fps = [];
    for (const text of [cert5696, cert5A23, cert7C47]) {
      const u = parseAuthCert(text);
      expect(u).toBeInstanceOf(UnverifiedAuthCert);
      const c = u.check(new Date('2020-08-07T12:43:00Z'));
      expect(c).toBeInstanceOf(AuthCert);
      fps.push(c.fingerprint);
    }
    expect(fps).toEqual(['5696AB38CB3852AFA476A5C07B2D4788963D5567', '5A23BA701776C9C1AB1C06E734E92AB3D5350D64', '7C47DCB4A90E2C2B7C7AD27BD641D038CF5D7EBE']);
  });

  it('exposes the fields', () => {
    const c = parseAuthCert(cert5696).check();
    expect(c.dirAddress).toBe('127.0.0.1:7001');
    expect(c.published.toISOString()).toBe('2020-08-07T12:40:25.000Z');
    expect(c.expires.toISOString()).toBe('2021-08-07T12:40:25.000Z');
    expect(c.identityKey.bits).toBe(3072);
    expect(c.signingKey.bits).toBe(2048);
    expect(c.identityKey.fingerprint()).toBe(c.fingerprint);
    // The signing-key digest the consensus signature by 5696AB38 names.
    expect(c.signingKeyDigest).toBe('F6ED4AA64D83CAEDE34E19693A7FCF331AAE8A6A');
    expect(c.text).toBe(cert5696);
  });

  it('parses concatenated certificates, with each text range exact', () => {
    const certs = parseAuthCerts(authcerts2);
    expect(certs.length).toBe(3);
    expect(certs.map((c) => c.unchecked.text).join('')).toBe(authcerts2);
    for (const c of certs) c.check();
    const cached = parseAuthCerts(cachedCerts).map((c) => c.check(new Date('2000-01-01T00:02:30Z')));
    expect(cached.map((c) => c.fingerprint)).toEqual([
      '0B8997614EC647C1C6B6A044E2B5408F0B823FB0',
      '5B591AD684C1AB8E0AB76C839E93FD097526A4BC',
      'D190BF3B00E311A9AEB6D62B51980E9B2109BAD1',
      '8A1777F0BF97344A7ABB97530EEEE38A5BDE8A4D',
    ]);
    expect(parseAuthCert(authcert1).check().fingerprint).toBe('ED03BB616EB2F60BEC80151114BB25CEF515B226');
    expect(() => parseAuthCert(authcerts2)).toThrow(ProtocolError);
  });

  it('accepts bytes input', () => {
    expect(parseAuthCert(utf8(cert5696)).check().fingerprint).toBe('5696AB38CB3852AFA476A5C07B2D4788963D5567');
  });

  it('checks the validity period only when given a time', () => {
    const u = parseAuthCert(cert5696);
    expect(() => u.check(new Date('2021-08-07T12:40:26Z'))).toThrow(/expired/);
    expect(() => u.check(new Date('2020-08-07T12:40:24Z'))).toThrow(/published in the future/);
    expect(u.check(new Date('2020-08-07T12:40:24Z'), { skewMs: 60_000 })).toBeInstanceOf(AuthCert);
    // No time given: the (long expired) certificate still verifies cryptographically.
    expect(u.check()).toBeInstanceOf(AuthCert);
    expect(u.check().isCurrent(new Date('2030-01-01T00:00:00Z'))).toBe(false);
    expect(u.check().isCurrent(new Date('2020-08-07T12:43:00Z'))).toBe(true);
  });

  const badFixtures: [string, string, typeof ProtocolError | typeof CertificateError, RegExp][] = [
    ['bad-cc-tag', badCcTag, ProtocolError, /line 26 \("dir-key-crosscert"\): object is "HAPPY FROGS"/],
    ['bad-version', badVersion, ProtocolError, /line 1 .*unsupported version "4"/],
    ['wrong-end', wrongEnd, ProtocolError, /item after "dir-key-certification"/],
    ['wrong-start', wrongStart, ProtocolError, /line 1 \("fingerprint"\): certificate must start with "dir-key-certificate-version"/],
    ['bad-fingerprint', badFingerprint, CertificateError, /identity key digest is ED03BB616EB2F60BEC80151114BB25CEF515B226/],
  ];
  for (const [name, text, type, message] of badFixtures) {
    it(`rejects arti's bad-certs/${name}`, () => {
      const e = thrown(() => parseAuthCerts(text).map((c) => c.check()));
      expect(e).toBeInstanceOf(type);
      expect((e as Error).message).toMatch(message);
    });
  }

  it('rejects a certificate whose signed text changed', () => {
    // Same length, still parses: the certification signature no longer matches.
    const tampered = cert5696.replace('dir-address 127.0.0.1:7001', 'dir-address 127.0.0.1:7002');
    expect(() => parseAuthCert(tampered).check()).toThrow(/dir-key-certification signature .* does not verify/);
  });

  it('rejects a cross-certificate from another signing key', () => {
    // Cert 5A23's crosscert put into cert 5696's parsed fields (in the text, the certification
    // signature would fail first): the crosscert check alone must catch it.
    const a = parseAuthCert(cert5696);
    const b = parseAuthCert(cert5A23);
    const mixed = new UnverifiedAuthCert({ ...fieldsOf(a), crossCertSignature: b.unchecked.crossCertSignature }, signedTextOf(cert5696));
    expect(() => mixed.check()).toThrow(/dir-key-crosscert signature by the signing key does not verify/);
  });

  it('rejects a signature byte flipped', () => {
    const a = parseAuthCert(cert5696);
    const sig = a.unchecked.certificationSignature.slice();
    sig[10]! ^= 1;
    const broken = new UnverifiedAuthCert({ ...fieldsOf(a), certificationSignature: sig }, signedTextOf(cert5696));
    expect(() => broken.check()).toThrow(CertificateError);
  });

  it('reports a missing required item', () => {
    const noFp = cert5696.replace(/^fingerprint .*\n/m, '');
    expect(() => parseAuthCert(noFp)).toThrow(/missing "fingerprint"/);
    const twice = cert5696.replace(/^(fingerprint .*\n)/m, '$1$1');
    expect(() => parseAuthCert(twice)).toThrow(/line 4 .*appears more than once/);
  });
});

function fieldsOf(c: UnverifiedAuthCert) {
  return {
    fingerprint: c.unchecked.fingerprint,
    dirAddress: c.unchecked.dirAddress,
    identityKey: c.unchecked.identityKey,
    signingKey: c.unchecked.signingKey,
    published: c.unchecked.published,
    expires: c.unchecked.expires,
    crossCertSignature: c.unchecked.crossCertSignature,
    certificationSignature: c.unchecked.certificationSignature,
    text: c.unchecked.text,
  };
}

function signedTextOf(text: string): string {
  const k = '\ndir-key-certification\n';
  return text.slice(0, text.indexOf(k) + k.length);
}

/** Apply line-level edits (delete, duplicate, swap, change a character) to a document. */

const edit = lineEdit([' ', 'x', '-', '=', '0', '\n', 'A', '']);

describe('authority certificate properties', () => {
  it('random text gives a TelescopeError, never another exception', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 200 })), (input) => {
        try {
          parseAuthCerts(input).map((c) => c.check());
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
    );
  });

  it('edited certificates parse and verify, or fail with a TelescopeError', () => {
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        const text = mutateLines(cert5696, edits);
        try {
          const c = parseAuthCert(text).check();
          // Only edits outside the signed text (e.g. in the signature's own BEGIN line) can pass.
          expect(c.fingerprint).toBe('5696AB38CB3852AFA476A5C07B2D4788963D5567');
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
      { numRuns: 200 },
    );
  });
});
