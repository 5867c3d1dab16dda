import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes, utf8 } from '../bytes/index.ts';
import { EstablishIntro, HsAuthKeyType } from '../cells/index.ts';
import { HandshakeError, TelescopeError, UsageError } from '../util/index.ts';
import { buildEstablishIntro, dosExtension, EST_INTRO_DOS_EXTENSION, verifyEstablishIntro } from './establish-intro.ts';
import { hsMac } from './hs-ntor.ts';

const seed = (n: number) => new Uint8Array(32).fill(n);
const kh = Uint8Array.from({ length: 20 }, (_, i) => i + 1);

describe('ESTABLISH_INTRO', () => {
  it('is the 134-byte v3 cell: Ed25519 auth key, MAC keyed with KH, signature with the prefix', () => {
    const cell = buildEstablishIntro({ authSecretKey: seed(7), circuitNonce: kh });
    const bytes = cell.encode();
    expect(bytes.length).toBe(1 + 2 + 32 + 1 + 32 + 2 + 64);
    const { msg, macCovered, signatureCovered } = EstablishIntro.decodeWithRanges(bytes);
    expect(msg.authKeyType).toBe(HsAuthKeyType.ED25519);
    expect(msg.authKey).toEqual(ed25519.getPublicKey(seed(7)));
    expect(msg.extensions).toEqual([]);
    expect(msg.handshakeAuth).toEqual(hsMac(kh, macCovered));
    expect(ed25519.verify(msg.signature, concatBytes(utf8('Tor establish-intro cell v1'), signatureCovered), msg.authKey)).toBe(true);
    expect(verifyEstablishIntro(bytes, kh).authKey).toEqual(msg.authKey);
  });

  it('carries the DoS extension inside what the MAC and signature cover (155 bytes)', () => {
    const cell = buildEstablishIntro({ authSecretKey: seed(9), circuitNonce: kh, extensions: [dosExtension(25, 200)] });
    const bytes = cell.encode();
    expect(bytes.length).toBe(155);
    const msg = verifyEstablishIntro(bytes, kh);
    expect(msg.extensions).toHaveLength(1);
    expect(msg.extensions[0]!.type).toBe(EST_INTRO_DOS_EXTENSION);
    // N_PARAMS 2 | type 1 | INT_8(25) | type 2 | INT_8(200)
    expect([...msg.extensions[0]!.body]).toEqual([2, 1, 0, 0, 0, 0, 0, 0, 0, 25, 2, 0, 0, 0, 0, 0, 0, 0, 200]);
  });

  it('fails verification on another circuit or with a flipped bit', () => {
    const bytes = buildEstablishIntro({ authSecretKey: seed(3), circuitNonce: kh }).encode();
    expect(() => verifyEstablishIntro(bytes, new Uint8Array(20))).toThrow(HandshakeError);
    for (const at of [5, 40, 100]) {
      const bad = bytes.slice();
      bad[at]! ^= 1;
      expect(() => verifyEstablishIntro(bad, kh)).toThrow(TelescopeError);
    }
  });

  it('refuses bad inputs as usage errors', () => {
    expect(() => buildEstablishIntro({ authSecretKey: new Uint8Array(31), circuitNonce: kh })).toThrow(UsageError);
    expect(() => buildEstablishIntro({ authSecretKey: seed(1), circuitNonce: new Uint8Array(0) })).toThrow(UsageError);
    expect(() => dosExtension(10, 5)).toThrow(UsageError);
    expect(() => dosExtension(-1, 5)).toThrow(UsageError);
    expect(() => dosExtension(1, 2 ** 31)).toThrow(UsageError);
  });

  it('random bytes verify to a typed error, never another exception', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
      try {
        verifyEstablishIntro(data, kh);
      } catch (e) {
        expect(e).toBeInstanceOf(TelescopeError);
      }
    }), { numRuns: 300 });
  });
});
