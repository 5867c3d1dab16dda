import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex } from '../shared/bytes/index.ts';
import { NtorClient, generateNtorKeyPair, nobleCurve25519, ntorServerHandshake } from '../shared/crypto/index.ts';
import { nodeCurve25519 } from './node-x25519.ts';

describe('node:crypto Curve25519', () => {
  it('agrees with @noble/curves on public keys and shared secrets', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, b) => {
      expect(toHex(nodeCurve25519.publicKey(a))).toBe(toHex(nobleCurve25519.publicKey(a)));
      const B = nobleCurve25519.publicKey(b);
      expect(toHex(nodeCurve25519.sharedSecret(a, B))).toBe(toHex(nobleCurve25519.sharedSecret(a, B)));
    }), { numRuns: 200 });
  });

  it('answers an ntor handshake the client accepts', () => {
    const identity = crypto.getRandomValues(new Uint8Array(20));
    const onionKey = generateNtorKeyPair();
    const hs = NtorClient.start(identity, onionKey.public);
    const server = ntorServerHandshake(hs.onionskin, { identity, onionKeys: [onionKey] }, { curve: nodeCurve25519 });
    expect(toHex(hs.pending.finish(server.reply))).toBe(toHex(server.keyMaterial));
  });

  it('refuses a small-order point like the pure-JavaScript engine', () => {
    const identity = crypto.getRandomValues(new Uint8Array(20));
    const onionKey = generateNtorKeyPair();
    const hs = NtorClient.start(identity, onionKey.public);
    const bad = hs.onionskin.slice();
    bad.fill(0, 52, 84); // X = 0: every shared secret is zero
    expect(() => ntorServerHandshake(bad, { identity, onionKeys: [onionKey] }, { curve: nodeCurve25519 })).toThrow(/all-zero|invalid/);
  });
});
