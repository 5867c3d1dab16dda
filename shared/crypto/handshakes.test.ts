import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex, utf8 } from '../bytes/index.ts';
import { HandshakeError } from '../util/index.ts';
import { kdfTor, hkdfSha256 } from './kdf.ts';
import { NtorClient, ntorServerHandshake, generateNtorKeyPair } from './ntor.ts';
import { CreateFastClient, createFastServerHandshake } from './create-fast.ts';
import { tor1KeysFrom } from './circuit-keys.ts';
import ntorVec from './fixtures/ntor.json';
import kdfVec from './fixtures/kdf.json';
import fastVec from './fixtures/create-fast.json';

describe('KDFs', () => {
  it('KDF-TOR matches tor\'s test vectors', () => {
    for (const v of kdfVec.KDF_TOR.vectors) {
      expect(toHex(kdfTor(utf8(v.input_ascii), v.output_len))).toBe(v.output_hex.toLowerCase());
    }
  });

  it('HKDF-SHA256 with the ntor constants matches tor\'s test vectors', () => {
    const salt = utf8('ntor-curve25519-sha256-1:key_extract');
    const info = utf8('ntor-curve25519-sha256-1:key_expand');
    for (const v of kdfVec.KDF_RFC5869_ntor.vectors) {
      expect(toHex(hkdfSha256(utf8(v.input_ascii), salt, info, v.output_len))).toBe(v.output_hex.toLowerCase());
    }
  });

  it('HKDF-SHA256 matches RFC 5869 appendix A', () => {
    for (const v of kdfVec.RFC5869_HKDF_SHA256_appendixA) {
      expect(toHex(hkdfSha256(fromHex(v.ikm), fromHex(v.salt), fromHex(v.info), v.L))).toBe(v.okm);
    }
  });
});

describe('ntor', () => {
  const i = ntorVec.inputs;
  const relay = {
    identity: fromHex(i.relay_id_rsa_sha1),
    onionKeys: [{ secret: fromHex(i.relay_ntor_secret_b), public: fromHex(i.relay_ntor_public_B) }],
  };

  it('client onionskin, server reply and key material match the published vector', () => {
    const { onionskin, pending } = NtorClient.start(relay.identity, relay.onionKeys[0]!.public, { ephemeralSecret: fromHex(i.client_ephemeral_secret_x) });
    expect(toHex(onionskin)).toBe(ntorVec.client_handshake_CREATE2_HDATA_ID_B_X);
    const server = ntorServerHandshake(onionskin, relay, { ephemeralSecret: fromHex(i.server_ephemeral_secret_y) });
    expect(toHex(server.reply)).toBe(ntorVec.server_handshake_CREATED2_HDATA_Y_AUTH);
    const keys = pending.finish(server.reply);
    expect(toHex(keys)).toBe(ntorVec['derived_keys_72_bytes_HKDF_SHA256(salt=t_key, ikm=secret_input, info=m_expand)']);
    expect(toHex(server.keyMaterial)).toBe(toHex(keys));
    const hop = tor1KeysFrom(keys);
    expect(hop.forwardKey.length).toBe(16);
    expect(toHex(hop.forwardDigestSeed)).toBe(toHex(keys.subarray(0, 20)));
  });

  it('rejects a reply with any bit flipped', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 64 * 8 - 1 }), (bit) => {
        const { onionskin, pending } = NtorClient.start(relay.identity, relay.onionKeys[0]!.public);
        const reply = ntorServerHandshake(onionskin, relay).reply.slice();
        reply[bit >> 3]! ^= 1 << (bit & 7);
        expect(() => pending.finish(reply)).toThrow(HandshakeError);
      }),
      { numRuns: 64 },
    );
  });

  it('a relay refuses onionskins for another identity or an onion key it does not hold', () => {
    const other = generateNtorKeyPair();
    const wrongKey = NtorClient.start(relay.identity, other.public).onionskin;
    expect(() => ntorServerHandshake(wrongKey, relay)).toThrow(/onion key/);
    const wrongId = NtorClient.start(new Uint8Array(20), relay.onionKeys[0]!.public).onionskin;
    expect(() => ntorServerHandshake(wrongId, relay)).toThrow(/another relay/);
    expect(() => ntorServerHandshake(new Uint8Array(10), relay)).toThrow(HandshakeError);
  });

  it('accepts the previous onion key during rotation', () => {
    const current = generateNtorKeyPair();
    const previous = generateNtorKeyPair();
    const r = { identity: relay.identity, onionKeys: [current, previous] };
    const { onionskin, pending } = NtorClient.start(r.identity, previous.public);
    const server = ntorServerHandshake(onionskin, r);
    expect(server.onionKey).toBe(previous);
    expect(pending.finish(server.reply)).toEqual(server.keyMaterial);
  });

  it('refuses a small-order Y (all-zero shared secret)', () => {
    const { pending } = NtorClient.start(relay.identity, relay.onionKeys[0]!.public);
    expect(() => pending.finish(new Uint8Array(64))).toThrow(HandshakeError);
  });
});

describe('CREATE_FAST', () => {
  it('matches arti\'s vectors', () => {
    for (const v of fastVec.vectors) {
      const x = fromHex(v.client_X_CREATE_FAST);
      const reply = fromHex(v.server_CREATED_FAST_Y_KH);
      const y = reply.subarray(0, 20);
      const kh = reply.subarray(20, 40);
      expect(toHex(kh)).toBe(v.KH);
      const { pending } = CreateFastClient.start({ x });
      const keys = pending.finish(y, kh, 100);
      expect(toHex(keys)).toBe(v.keys_after_KH_100_bytes);
      const server = createFastServerHandshake(x, { y, keyLength: 100 });
      expect(toHex(server.kh)).toBe(v.KH);
      expect(server.keyMaterial).toEqual(keys);
    }
  });

  it('rejects a wrong KH', () => {
    const { x, pending } = CreateFastClient.start();
    const s = createFastServerHandshake(x);
    const kh = s.kh.slice();
    kh[0]! ^= 1;
    expect(() => pending.finish(s.y, kh)).toThrow(HandshakeError);
    expect(pending.finish(s.y, s.kh)).toEqual(s.keyMaterial);
  });
});
