import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { toHex } from '../../shared/bytes/index.ts';
import { UsageError } from '../../shared/util/index.ts';
import { UnverifiedEd25519Cert, verifyEd25519 } from '../../shared/crypto/index.ts';
import { Ed25519Signer, clampScalar, ed25519FromCurve25519, ed25519PublicFromCurve25519, expirationHours, issueEd25519Cert, matchesCurve25519 } from './ed25519-signer.ts';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('Ed25519 signing from expanded keys', () => {
  it('a key from a seed signs exactly as RFC 8032 does', () => {
    fc.assert(
      fc.property(bytes32, fc.uint8Array({ maxLength: 300 }), (seed, msg) => {
        const s = Ed25519Signer.fromSeed(seed);
        expect(toHex(s.publicKey)).toBe(toHex(ed25519.getPublicKey(seed)));
        expect(toHex(s.sign(msg))).toBe(toHex(ed25519.sign(msg, seed)));
      }),
      { numRuns: 30 },
    );
  });

  it('RFC 8032 test 2 (one-byte message)', () => {
    const seed = Uint8Array.from(Buffer.from('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', 'hex'));
    const s = Ed25519Signer.fromSeed(seed);
    expect(toHex(s.publicKey)).toBe('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c');
    expect(toHex(s.sign(Uint8Array.of(0x72)))).toBe(
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    );
  });

  it('an expanded key survives storing and loading', () => {
    fc.assert(
      fc.property(bytes32, fc.uint8Array({ maxLength: 100 }), (seed, msg) => {
        const a = Ed25519Signer.fromSeed(seed);
        const b = Ed25519Signer.fromExpanded(a.expanded);
        expect(toHex(b.publicKey)).toBe(toHex(a.publicKey));
        expect(toHex(b.sign(msg))).toBe(toHex(a.sign(msg)));
      }),
      { numRuns: 20 },
    );
  });

  it('refuses keys of the wrong size', () => {
    expect(() => Ed25519Signer.fromSeed(new Uint8Array(31))).toThrow(UsageError);
    expect(() => Ed25519Signer.fromExpanded(new Uint8Array(32))).toThrow(UsageError);
    expect(() => Ed25519Signer.fromExpanded(new Uint8Array(64))).toThrow(UsageError);
    expect(() => clampScalar(new Uint8Array(33))).toThrow(UsageError);
  });
});

describe('curve25519 → Ed25519 (dir-spec appendix C)', () => {
  it('the derived key has the onion key\'s scalar, and a verifier rebuilds its public key from u and the sign bit', () => {
    fc.assert(
      fc.property(bytes32, fc.uint8Array({ maxLength: 100 }), (secret, msg) => {
        const u = x25519.getPublicKey(secret);
        const { signer, signBit } = ed25519FromCurve25519(secret);
        expect(matchesCurve25519(signer, u)).toBe(true);
        const rebuilt = ed25519PublicFromCurve25519(u, signBit);
        expect(rebuilt && toHex(rebuilt)).toBe(toHex(signer.publicKey));
        expect(verifyEd25519(signer.sign(msg), msg, rebuilt!)).toBe(true);
        // The other sign bit names the negated point, which does not verify.
        const wrong = ed25519PublicFromCurve25519(u, (1 - signBit) as 0 | 1)!;
        expect(verifyEd25519(signer.sign(msg), msg, wrong)).toBe(false);
      }),
      { numRuns: 20 },
    );
  });

  it('the same curve25519 secret, clamped or not, gives the same Ed25519 key', () => {
    fc.assert(
      fc.property(bytes32, (secret) => {
        expect(toHex(ed25519FromCurve25519(secret).signer.publicKey)).toBe(toHex(ed25519FromCurve25519(clampScalar(secret)).signer.publicKey));
      }),
      { numRuns: 10 },
    );
  });

  it('u = -1 has no Edwards point', () => {
    const minusOne = new Uint8Array(32).fill(0xff);
    minusOne[0] = 0xec;
    minusOne[31] = 0x7f;
    expect(ed25519PublicFromCurve25519(minusOne, 0)).toBeUndefined();
  });
});

describe('issueEd25519Cert', () => {
  const signer = Ed25519Signer.generate();

  it('issues certificates the core decodes to the same fields, signed by the issuer', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 11 }),
        fc.integer({ min: 1, max: 3 }),
        bytes32,
        fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2400-01-01T00:00:00Z'), noInvalidDate: true }),
        fc.boolean(),
        (certType, certKeyType, certifiedKey, expires, includeSignerKey) => {
          const c = issueEd25519Cert({ certType, certKeyType, certifiedKey, expires, includeSignerKey }, signer);
          const back = UnverifiedEd25519Cert.decode(c.encode());
          expect(back.unchecked.certType).toBe(certType);
          expect(back.unchecked.certKeyType).toBe(certKeyType);
          expect(toHex(back.unchecked.certifiedKey)).toBe(toHex(certifiedKey));
          expect(back.unchecked.expirationHours).toBe(Math.ceil(expires.getTime() / 3_600_000));
          expect(back.unchecked.expires.getTime()).toBeGreaterThanOrEqual(expires.getTime());
          expect(back.unchecked.signingKeyFromExtension && toHex(back.unchecked.signingKeyFromExtension)).toBe(includeSignerKey ? toHex(signer.publicKey) : undefined);
          back.check(signer.publicKey);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('refuses what it cannot encode', () => {
    expect(() => issueEd25519Cert({ certType: 4, certKeyType: 1, certifiedKey: new Uint8Array(31), expires: new Date() }, signer)).toThrow(UsageError);
    expect(() => expirationHours(new Date(NaN))).toThrow(UsageError);
    expect(() => expirationHours(new Date(-3_600_000 * 2))).toThrow(UsageError);
  });
});
