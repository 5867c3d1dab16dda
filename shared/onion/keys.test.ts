import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import ext from './fixtures/ed25519_ext_vectors.json';
import blinding from './fixtures/key_blinding_subcredential_vectors.json';
import { fromHex, toHex } from '../bytes/index.ts';
import { ProtocolError, TelescopeError, UsageError } from '../util/index.ts';
import { parseOnionAddress } from './address.ts';
import {
  blindExpandedSecretKeyWithParam,
  blindKeypair,
  blindPublicKey,
  blindPublicKeyWithParam,
  blindingParam,
  credential,
  curve25519ToEd25519,
  ed25519ToCurve25519,
  expandSecretKey,
  int8,
  publicKeyFromExpanded,
  signWithExpandedKey,
  subcredential,
} from './keys.ts';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('ed25519 extension vectors (tor ed25519_vectors.inc)', () => {
  const n = ext.ed25519_secret_keys.length;
  const at = (list: string[], i: number) => fromHex(list[i]!);

  it('expands seeds and derives public keys from expanded keys', () => {
    for (let i = 0; i < n; i++) {
      const esk = expandSecretKey(at(ext.ed25519_secret_keys, i));
      expect(toHex(esk)).toBe(ext.ed25519_expanded_secret_keys[i]);
      expect(toHex(publicKeyFromExpanded(esk))).toBe(ext.ed25519_public_keys[i]);
    }
  });

  it('maps ed25519 public keys to curve25519 and back', () => {
    for (let i = 0; i < n; i++) {
      const pub = at(ext.ed25519_public_keys, i);
      const curve = ext.ed25519_curve25519_public_keys[i]!;
      expect(toHex(ed25519ToCurve25519(pub))).toBe(curve);
      // The vectors' curve25519 key is the X25519 public key of the same scalar.
      expect(toHex(x25519.getPublicKey(at(ext.ed25519_expanded_secret_keys, i).subarray(0, 32)))).toBe(curve);
      const sign = (pub[31]! >> 7) as 0 | 1;
      expect(toHex(curve25519ToEd25519(fromHex(curve), sign))).toBe(ext.ed25519_public_keys[i]);
    }
  });

  it('blinds secret and public keys with the raw parameters', () => {
    for (let i = 0; i < n; i++) {
      const param = at(ext.ed25519_blinding_params, i);
      const besk = blindExpandedSecretKeyWithParam(at(ext.ed25519_expanded_secret_keys, i), param);
      expect(toHex(besk)).toBe(ext.ed25519_blinded_secret_keys[i]);
      expect(toHex(blindPublicKeyWithParam(at(ext.ed25519_public_keys, i), param))).toBe(ext.ed25519_blinded_public_keys[i]);
      expect(toHex(publicKeyFromExpanded(besk))).toBe(ext.ed25519_blinded_public_keys[i]);
    }
  });

  it('signs with expanded keys exactly as seed-based ed25519 does (self signatures)', () => {
    for (let i = 0; i < n; i++) {
      const pub = at(ext.ed25519_public_keys, i);
      const sig = signWithExpandedKey(pub, at(ext.ed25519_expanded_secret_keys, i), pub);
      expect(toHex(sig)).toBe(ext.ed25519_self_signatures[i]);
      expect(toHex(ed25519.sign(pub, at(ext.ed25519_secret_keys, i)))).toBe(ext.ed25519_self_signatures[i]);
    }
  });
});

describe('key blinding and subcredential (tor test_blinding_basics, arti)', () => {
  it('derives h, A\', a\' and the subcredential of the vectors', () => {
    for (const v of blinding.vectors) {
      const A = fromHex(v.identity_pubkey_A);
      const h = blindingParam(A, v.time_period_num, v.period_length_min);
      expect(toHex(h)).toBe(v.blinding_param_h_unclamped);
      const blinded = blindPublicKey(A, v.time_period_num, v.period_length_min);
      expect(toHex(blinded)).toBe(v.blinded_pubkey);
      expect(toHex(subcredential(A, blinded))).toBe(v.subcredential);
      if (v.onion !== undefined) expect(toHex(parseOnionAddress(v.onion).publicKey)).toBe(v.identity_pubkey_A);
      if (v.identity_expanded_secret_a_prefix !== undefined) {
        const esk = fromHex(v.identity_expanded_secret_a_prefix);
        expect(toHex(publicKeyFromExpanded(esk))).toBe(v.identity_pubkey_A);
        const kp = blindKeypair(esk, v.time_period_num, v.period_length_min);
        expect(toHex(kp.expandedSecretKey)).toBe(v.blinded_expanded_secret);
        expect(toHex(kp.publicKey)).toBe(v.blinded_pubkey);
      }
    }
  });

  it('encodes INT_8 big-endian and rejects what is not a u64', () => {
    expect(toHex(int8(0x0102030405))).toBe('0000000102030405');
    expect(toHex(int8(2n ** 64n - 1n))).toBe('ffffffffffffffff');
    expect(() => int8(-1)).toThrow(UsageError);
    expect(() => int8(1.5)).toThrow(UsageError);
    expect(() => int8(2n ** 64n)).toThrow(UsageError);
  });
});

describe('properties', () => {
  it('a blinded key signs messages that standard ed25519 verifies under the blinded public key', () => {
    fc.assert(
      fc.property(bytes32, fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 1, max: 14400 }), fc.uint8Array({ maxLength: 200 }), (seed, tp, len, msg) => {
        const esk = expandSecretKey(seed);
        const identity = publicKeyFromExpanded(esk);
        const kp = blindKeypair(esk, tp, len);
        expect(kp.publicKey).toEqual(blindPublicKey(identity, tp, len));
        const sig = signWithExpandedKey(msg, kp.expandedSecretKey);
        expect(ed25519.verify(sig, msg, kp.publicKey, { zip215: false })).toBe(true);
        expect(ed25519.verify(sig, msg, identity)).toBe(false);
      }),
      { numRuns: 25 },
    );
  });

  it('different periods give different blinded keys and subcredentials; the same inputs the same', () => {
    fc.assert(
      fc.property(bytes32, fc.integer({ min: 0, max: 2 ** 40 }), (seed, tp) => {
        const A = ed25519.getPublicKey(seed);
        const b1 = blindPublicKey(A, tp, 1440);
        const b2 = blindPublicKey(A, tp + 1, 1440);
        expect(b1).not.toEqual(b2);
        expect(subcredential(A, b1)).toEqual(subcredential(A, blindPublicKey(A, tp, 1440)));
        expect(subcredential(A, b1)).not.toEqual(subcredential(A, b2));
        expect(credential(A)).toEqual(credential(Uint8Array.from(A)));
      }),
      { numRuns: 20 },
    );
  });

  it('curve25519 ↔ ed25519 round-trips for real keys', () => {
    fc.assert(
      fc.property(bytes32, (seed) => {
        const pub = ed25519.getPublicKey(seed);
        const curve = ed25519ToCurve25519(pub);
        expect(curve).toEqual(ed25519.utils.toMontgomery(pub));
        expect(curve25519ToEd25519(curve, (pub[31]! >> 7) as 0 | 1)).toEqual(pub);
      }),
      { numRuns: 30 },
    );
  });

  it('random bytes as keys give typed errors or valid results, never other exceptions', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.constantFrom<0 | 1>(0, 1), (bytes, sign) => {
        for (const f of [
          () => blindPublicKey(bytes, 1, 1440),
          () => ed25519ToCurve25519(bytes),
          () => curve25519ToEd25519(bytes, sign),
          () => subcredential(bytes, bytes),
          () => blindPublicKeyWithParam(bytes, bytes),
        ]) {
          try {
            expect(f()).toHaveLength(32);
          } catch (e) {
            expect(e).toBeInstanceOf(TelescopeError);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('refuses to blind a key with a torsion component (tor rejects such addresses)', () => {
    // A point of order 8 added to a valid key: still a curve point, but not in the subgroup.
    const pub = ed25519.Point.fromBytes(ed25519.getPublicKey(new Uint8Array(32).fill(7)));
    const torsion = ed25519.Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
    expect(() => blindPublicKey(pub.add(torsion).toBytes(), 1, 1440)).toThrow(ProtocolError);
    expect(() => blindPublicKey(new Uint8Array(32).fill(0xff), 1, 1440)).toThrow(ProtocolError);
  });
});
