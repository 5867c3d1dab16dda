import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { x25519 } from '@noble/curves/ed25519.js';
import { concatBytes, fromHex, toHex, utf8 } from '../bytes/index.ts';
import { HandshakeError, UsageError } from '../util/index.ts';
import { nobleCurve25519, hsV3KeysFrom, reverseHopKeys, ClientCircuitCrypto, RELAY_BODY_LEN, type Curve25519 } from '../crypto/index.ts';
import { HsNtorClient, HsNtorService, hsMac, hsNtorExpand, hsNtorIntroKeys } from './hs-ntor.ts';
import { intro, serviceKeys, v, vec } from './fixtures/hs-ntor-vector.ts';

const H = fromHex(v.H);
const P = fromHex(v.P);
const body = fromHex(v.INTRODUCE1_body);
const encrypted = body.subarray(H.length);

describe('hs-ntor MAC', () => {
  it('matches the MAC vectors', () => {
    for (const m of vec.hs_mac_vectors) expect(toHex(hsMac(utf8(m.key_ascii), utf8(m.msg_ascii)))).toBe(m.mac_hex);
  });
});

describe('hs-ntor against rend-spec-v3 appendix G.1', () => {
  it('the client derives ENC_KEY/MAC_KEY and builds the INTRODUCE1 body exactly', () => {
    const x = fromHex(v.x);
    expect(toHex(x25519.getPublicKey(x))).toBe(v.X);
    const keys = hsNtorIntroKeys(x25519.getSharedSecret(x, intro.encKey), intro, fromHex(v.X));
    expect(toHex(keys.encKey)).toBe(v.ENC_KEY);
    expect(toHex(keys.macKey)).toBe(v.MAC_KEY);
    const { encrypted: enc } = HsNtorClient.start(intro, H, P, { ephemeralSecret: x });
    expect(toHex(enc)).toBe(v.X + vec.encrypted_part_C + vec.MAC_over_H_X_C);
    expect(toHex(concatBytes(H, enc))).toBe(v.INTRODUCE1_body);
  });

  it('the service recovers P and answers with the vector\'s Y | AUTH and NTOR_KEY_SEED', () => {
    const { plaintext, pending } = HsNtorService.open(serviceKeys, H, encrypted);
    expect(toHex(plaintext)).toBe(v.P);
    expect(toHex(pending.clientPublicKey)).toBe(v.X);
    const r = pending.respond({ ephemeralSecret: fromHex(v.y) });
    expect(toHex(r.handshakeInfo)).toBe(vec.RENDEZVOUS1_handshake_info_Y_AUTH);
    expect(toHex(r.handshakeInfo.subarray(0, 32))).toBe(v.Y);
    expect(toHex(r.keySeed)).toBe(v.NTOR_KEY_SEED);
    expect(toHex(r.keyMaterial)).toBe(vec['circuit_key_material_128_bytes_SHAKE256(NTOR_KEY_SEED|m_hsexpand)_computed_by_helper']);
  });

  it('the client checks AUTH and reaches the same NTOR_KEY_SEED and key material', () => {
    const { pending } = HsNtorClient.start(intro, H, P, { ephemeralSecret: fromHex(v.x) });
    const r = pending.finish(fromHex(vec.RENDEZVOUS1_handshake_info_Y_AUTH));
    expect(toHex(r.keySeed)).toBe(v.NTOR_KEY_SEED);
    expect(toHex(r.keyMaterial)).toBe(toHex(hsNtorExpand(fromHex(v.NTOR_KEY_SEED))));
    expect(r.keyMaterial.length).toBe(128);
  });
});

describe('hs-ntor rejects what it must', () => {
  it('any flipped bit in the header, CLIENT_PK, ciphertext or MAC fails with HandshakeError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: body.length * 8 - 1 }), (bit) => {
        const bad = body.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(() => HsNtorService.open(serviceKeys, bad.subarray(0, H.length), bad.subarray(H.length))).toThrow(HandshakeError);
      }),
      { numRuns: 150 },
    );
  });

  it('a wrong subcredential, AUTH_KEY or service key fails the MAC', () => {
    const other = new Uint8Array(32).fill(7);
    expect(() => HsNtorService.open({ ...serviceKeys, subcredential: other }, H, encrypted)).toThrow(HandshakeError);
    expect(() => HsNtorService.open({ ...serviceKeys, authKey: other }, H, encrypted)).toThrow(HandshakeError);
    const kp = { secret: other, public: x25519.getPublicKey(other) };
    expect(() => HsNtorService.open({ ...serviceKeys, encKeyPair: kp }, H, encrypted)).toThrow(HandshakeError);
  });

  it('a tampered Y or AUTH in RENDEZVOUS2 fails with HandshakeError', () => {
    const info = fromHex(vec.RENDEZVOUS1_handshake_info_Y_AUTH);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: info.length * 8 - 1 }), (bit) => {
        const { pending } = HsNtorClient.start(intro, H, P, { ephemeralSecret: fromHex(v.x) });
        const bad = info.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(() => pending.finish(bad)).toThrow(HandshakeError);
      }),
      { numRuns: 80 },
    );
  });

  it('short or malformed handshake data is a HandshakeError, bad arguments a UsageError', () => {
    const { pending } = HsNtorClient.start(intro, H, P);
    expect(() => pending.finish(new Uint8Array(63))).toThrow(HandshakeError);
    expect(() => HsNtorService.open(serviceKeys, H, new Uint8Array(63))).toThrow(HandshakeError);
    // An all-zero CLIENT_PK is a small-order point: EXP(X,b) would be zero.
    expect(() => HsNtorService.open(serviceKeys, H, new Uint8Array(64))).toThrow(HandshakeError);
    expect(() => pending.finish(new Uint8Array(64))).toThrow(HandshakeError);
    expect(() => HsNtorClient.start({ ...intro, subcredential: new Uint8Array(31) }, H, P)).toThrow(UsageError);
    expect(() => HsNtorClient.start({ ...intro, encKey: new Uint8Array(32) }, H, P)).toThrow(HandshakeError);
  });
});

describe('hs-ntor round trips', () => {
  it('client and service agree for random keys and plaintexts, and the keys run a virtual hop', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.uint8Array({ minLength: 0, maxLength: 80 }),
        (b, authKey, subcredential, plaintext, header) => {
          const encKeyPair = { secret: b, public: x25519.getPublicKey(b) };
          const { encrypted: enc, pending } = HsNtorClient.start({ authKey, encKey: encKeyPair.public, subcredential }, header, plaintext);
          const opened = HsNtorService.open({ authKey, encKeyPair, subcredential }, header, enc);
          expect(toHex(opened.plaintext)).toBe(toHex(plaintext));
          const answer = opened.pending.respond();
          const done = pending.finish(answer.handshakeInfo);
          expect(toHex(done.keyMaterial)).toBe(toHex(answer.keyMaterial));

          const client = new ClientCircuitCrypto();
          client.addHop(hsV3KeysFrom(done.keyMaterial));
          const service = new ClientCircuitCrypto();
          service.addHop(reverseHopKeys(hsV3KeysFrom(answer.keyMaterial)));
          const cell = new Uint8Array(RELAY_BODY_LEN).fill(0x5a);
          client.encryptOutbound(cell, 0);
          expect(service.decryptInbound(cell)).toBe(0);
          expect(cell[20]).toBe(0x5a);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('uses an injected Curve25519 engine on both sides', () => {
    let calls = 0;
    const counting: Curve25519 = {
      publicKey: (s) => (calls++, nobleCurve25519.publicKey(s)),
      sharedSecret: (s, p) => (calls++, nobleCurve25519.sharedSecret(s, p)),
    };
    const { encrypted: enc, pending } = HsNtorClient.start(intro, H, P, { curve: counting });
    expect(calls).toBe(2);
    const opened = HsNtorService.open(serviceKeys, H, enc, { curve: counting });
    const answer = opened.pending.respond();
    expect(calls).toBe(5);
    pending.finish(answer.handshakeInfo);
    expect(calls).toBe(6);
  });
});
