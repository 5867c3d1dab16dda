import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { shake256 } from '@noble/hashes/sha3.js';
import { toHex, utf8 } from '../bytes/util.ts';
import { RelayCryptoError } from '../errors.ts';
import { ClientCircuitCrypto, RelayHopCrypto, RELAY_BODY_LEN } from './tor1.ts';
import { tor1KeysFrom } from './circuit-keys.ts';
import { webCryptoAesCtr } from './aes-ctr.ts';
import vec from './fixtures/tor1.json';

const hopKeys = vec.key_material_ascii.map((s) => tor1KeysFrom(utf8(s).subarray(0, 72)));

/** The vector's plaintext cells: RELAY_DATA on stream 1 with 498 bytes of SHAKE256(SEED) each. */
function plaintextCells(n: number): Uint8Array[] {
  const stream = shake256(utf8(vec.SEED_ascii), { dkLen: 498 * n });
  return Array.from({ length: n }, (_, i) => {
    const body = new Uint8Array(RELAY_BODY_LEN);
    body[0] = 2;
    body[4] = 1;
    body[9] = 0x01;
    body[10] = 0xf2;
    body.set(stream.subarray(i * 498, (i + 1) * 498), 11);
    return body;
  });
}

function randomBody(seed: number): Uint8Array {
  const b = new Uint8Array(RELAY_BODY_LEN);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + seed * 17) & 0xff;
  return b;
}

describe('tor1 relay crypto', () => {
  it('matches the 3-hop outbound vector (tor\'s relaycrypt keys, arti\'s expected ciphertexts)', () => {
    const client = new ClientCircuitCrypto();
    hopKeys.forEach((k) => client.addHop(k));
    const cells = plaintextCells(51);
    const expected = new Map(vec.expected.map((e) => [e.cell_index, e]));
    cells.forEach((body, i) => {
      client.encryptOutbound(body, 2);
      const e = expected.get(i);
      if (e) expect(toHex(body)).toBe(e.ciphertext_after_3_layers_hex.toLowerCase());
    });
  });

  it('the sealed plaintext carries the digest from the vector', () => {
    const client = new ClientCircuitCrypto();
    hopKeys.forEach((k) => client.addHop(k));
    const relays = hopKeys.map((k) => new RelayHopCrypto(k));
    const cells = plaintextCells(3);
    cells.forEach((body, i) => {
      client.encryptOutbound(body, 2);
      expect(relays[0]!.decryptOutbound(body)).toBe(false);
      expect(relays[1]!.decryptOutbound(body)).toBe(false);
      expect(relays[2]!.decryptOutbound(body)).toBe(true);
      expect(toHex(body)).toBe(vec.expected[i]!.plaintext_body_with_digest_hex.toLowerCase());
    });
  });

  for (const [name, aes] of [['noble', undefined], ['WebCrypto-prefetching', webCryptoAesCtr]] as const) {
    it(`leaky pipe both ways over 3 relays (${name} AES)`, () => {
      const client = new ClientCircuitCrypto(aes);
      hopKeys.forEach((k) => client.addHop(k));
      const relays = hopKeys.map((k) => new RelayHopCrypto(k, aes));
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.boolean(), fc.nat()), { minLength: 1, maxLength: 30 }), (ops) => {
          for (const [hop, outbound, seed] of ops) {
            const plain = randomBody(seed);
            const cell = plain.slice();
            if (outbound) {
              const sent = new Uint8Array(20);
              const got = new Uint8Array(20);
              client.encryptOutbound(cell, hop, sent);
              let at = 0;
              while (!relays[at]!.decryptOutbound(cell, got)) at++;
              expect(at).toBe(hop);
              expect(toHex(got)).toBe(toHex(sent));
              expect(toHex(cell.subarray(11))).toBe(toHex(plain.subarray(11)));
            } else {
              const sent = new Uint8Array(20);
              const got = new Uint8Array(20);
              relays[hop]!.encryptInbound(cell, true, sent);
              for (let i = hop - 1; i >= 0; i--) relays[i]!.encryptInbound(cell, false);
              expect(client.decryptInbound(cell, got)).toBe(hop);
              expect(toHex(got)).toBe(toHex(sent));
              expect(toHex(cell.subarray(11))).toBe(toHex(plain.subarray(11)));
            }
          }
        }),
        { numRuns: 20 },
      );
    });
  }

  it('a cell with any bit flipped on the wire is recognized by no hop', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: RELAY_BODY_LEN * 8 - 1 }), fc.integer({ min: 0, max: 2 }), (bit, hop) => {
        // A fresh circuit each time: a rejected cell leaves the ciphers out of step, and the
        // circuit is torn down in that case anyway.
        const client = new ClientCircuitCrypto();
        hopKeys.forEach((k) => client.addHop(k));
        const relays = hopKeys.map((k) => new RelayHopCrypto(k));
        const good = randomBody(bit + 1);
        relays[hop]!.encryptInbound(good, true);
        for (let i = hop - 1; i >= 0; i--) relays[i]!.encryptInbound(good, false);
        expect(client.decryptInbound(good)).toBe(hop);
        const bad = randomBody(bit);
        relays[hop]!.encryptInbound(bad, true);
        for (let i = hop - 1; i >= 0; i--) relays[i]!.encryptInbound(bad, false);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(() => client.decryptInbound(bad)).toThrow(RelayCryptoError);
      }),
      { numRuns: 60 },
    );
  });

  it('a flipped bit in an outbound cell is not recognized by its target', () => {
    const client = new ClientCircuitCrypto();
    client.addHop(hopKeys[0]!);
    const relay = new RelayHopCrypto(hopKeys[0]!);
    const body = randomBody(1);
    client.encryptOutbound(body, 0);
    body[100]! ^= 4;
    expect(relay.decryptOutbound(body)).toBe(false);
  });
});
