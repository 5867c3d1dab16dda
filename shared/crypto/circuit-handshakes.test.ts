import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../bytes/index.ts';
import { HandshakeType } from '../cells/index.ts';
import { HandshakeError, UsageError } from '../util/index.ts';
import { KH_LEN, type HopKeyMaterial } from './circuit-keys.ts';
import { clientHandshake, findClientHandshake } from './client-handshakes.ts';
import type { ClientHandshake, HandshakeTarget, RelayHandshakeKeys, ServerHandshake } from './handshake.ts';
import { generateNtorKeyPair } from './ntor.ts';
import { findServerHandshake } from './server-handshakes.ts';
import { ClientCircuitCrypto, RELAY_BODY_LEN, RelayHopCrypto } from './tor1.ts';
import ntorVec from './fixtures/ntor.json';
import fastVec from './fixtures/create-fast.json';

/**
 * The circuit-handshake registries: which handshake types a client starts and a relay answers,
 * and that the two sides of each, met only through the interface, give both ends of a hop the
 * same keys (the same cell crypto, KH, nothing negotiated).
 */

const onionKey = generateNtorKeyPair();
const relay: RelayHandshakeKeys = { identity: fromHex(ntorVec.inputs.relay_id_rsa_sha1), onionKeys: [onionKey] };
const target: HandshakeTarget = { rsaIdentity: relay.identity, ntorOnionKey: onionKey.public };

function bothSides(type: number): { client: ClientHandshake; server: ServerHandshake } {
  const client = findClientHandshake(type);
  const server = findServerHandshake(type);
  if (!client || !server) throw new Error(`handshake type ${type} is not registered on both sides`);
  return { client, server };
}

/** A cell the client seals for the hop is recognized by the relay with the same digest, and back. */
function expectSameCellCrypto(client: HopKeyMaterial, server: HopKeyMaterial): void {
  const circuit = new ClientCircuitCrypto();
  circuit.addHop(client.keys);
  const hop = new RelayHopCrypto(server.keys);
  const out = new Uint8Array(RELAY_BODY_LEN).fill(7);
  out.fill(0, 1, 3);
  const sent = new Uint8Array(20);
  const got = new Uint8Array(20);
  circuit.encryptOutbound(out, 0, sent);
  expect(hop.decryptOutbound(out, got)).toBe(true);
  expect(toHex(got)).toBe(toHex(sent));
  const back = new Uint8Array(RELAY_BODY_LEN).fill(9);
  back.fill(0, 1, 3);
  hop.encryptInbound(back, true, sent);
  expect(circuit.decryptInbound(back, got)).toBe(0);
  expect(toHex(got)).toBe(toHex(sent));
}

describe('circuit handshake registries', () => {
  it('register CREATE_FAST (1) and ntor (2) on both sides, each with the cell that carries it', () => {
    for (const [type, name, carrier] of [[HandshakeType.FAST, 'CREATE_FAST', 'create-fast'], [HandshakeType.NTOR, 'ntor', 'create2']] as const) {
      const { client, server } = bothSides(type);
      expect([client.handshakeType, client.name, client.carrier]).toEqual([type, name, carrier]);
      expect([server.handshakeType, server.name, server.carrier]).toEqual([type, name, carrier]);
      expect(clientHandshake(type)).toBe(client);
    }
  });

  it('know nothing of TAP, ntor-v3 (not yet) or an unassigned type: a relay refuses them, a client cannot start them', () => {
    for (const type of [HandshakeType.TAP, HandshakeType.NTOR_V3, 0x1234]) {
      expect(findServerHandshake(type)).toBeUndefined();
      expect(findClientHandshake(type)).toBeUndefined();
      expect(() => clientHandshake(type)).toThrow(UsageError);
      expect(() => clientHandshake(type)).toThrow(`no client side for circuit handshake type ${type}`);
    }
  });
});

describe('ntor through the interface', () => {
  const { client, server } = bothSides(HandshakeType.NTOR);

  it('both ends get the same tor1 keys and KH, and nothing negotiated', () => {
    const started = client.start(target);
    expect(started.handshakeType).toBe(HandshakeType.NTOR);
    const answer = server.respond(started.onionskin, relay);
    const mine = started.finish(answer.reply);
    for (const k of [mine, answer.keys]) {
      expect(k.keys.kind).toBe('tor1');
      expect(k.kh?.length).toBe(KH_LEN);
      expect(k.negotiated).toEqual({});
    }
    expect(mine.keys).toEqual(answer.keys.keys);
    expect(toHex(mine.kh!)).toBe(toHex(answer.keys.kh!));
    expectSameCellCrypto(mine, answer.keys);
  });

  it('gives the published vector\'s keys (the first 72 bytes of what ntor expands to)', () => {
    const i = ntorVec.inputs;
    const vecRelay: RelayHandshakeKeys = { identity: fromHex(i.relay_id_rsa_sha1), onionKeys: [{ secret: fromHex(i.relay_ntor_secret_b), public: fromHex(i.relay_ntor_public_B) }] };
    const x = fromHex(i.client_ephemeral_secret_x);
    const y = fromHex(i.server_ephemeral_secret_y);
    const started = client.start({ rsaIdentity: vecRelay.identity, ntorOnionKey: vecRelay.onionKeys[0]!.public }, { random: () => x.slice() });
    expect(toHex(started.onionskin)).toBe(ntorVec.client_handshake_CREATE2_HDATA_ID_B_X);
    const answer = server.respond(started.onionskin, vecRelay, { random: () => y.slice() });
    expect(toHex(answer.reply)).toBe(ntorVec.server_handshake_CREATED2_HDATA_Y_AUTH);
    const keys = started.finish(answer.reply).keys;
    const expected = ntorVec['derived_keys_72_bytes_HKDF_SHA256(salt=t_key, ikm=secret_input, info=m_expand)'];
    expect(toHex(keys.forwardDigestSeed) + toHex(keys.backwardDigestSeed) + toHex(keys.forwardKey) + toHex(keys.backwardKey)).toBe(expected);
  });

  it('refuses an onionskin for another onion key (relay) and a tampered reply (client) with HandshakeError', () => {
    const other = client.start({ ...target, ntorOnionKey: generateNtorKeyPair().public });
    expect(() => server.respond(other.onionskin, relay)).toThrow(HandshakeError);
    const started = client.start(target);
    const reply = server.respond(started.onionskin, relay).reply.slice();
    reply[40]! ^= 1;
    expect(() => started.finish(reply)).toThrow(HandshakeError);
  });
});

describe('CREATE_FAST through the interface', () => {
  const { client, server } = bothSides(HandshakeType.FAST);

  it('both ends get the same tor1 keys and KH; the reply is CREATED_FAST\'s Y | KH', () => {
    const started = client.start(target);
    expect(started.onionskin.length).toBe(20);
    const answer = server.respond(started.onionskin, relay);
    expect(answer.reply.length).toBe(40);
    const mine = started.finish(answer.reply);
    expect(mine.keys).toEqual(answer.keys.keys);
    expect(toHex(mine.kh!)).toBe(toHex(answer.keys.kh!));
    expect(mine.negotiated).toEqual({});
    expectSameCellCrypto(mine, answer.keys);
  });

  it('matches arti\'s vectors: keys and KH are the first 92 bytes after the reply\'s KH', () => {
    for (const v of fastVec.vectors) {
      const x = fromHex(v.client_X_CREATE_FAST);
      const reply = fromHex(v.server_CREATED_FAST_Y_KH);
      const started = client.start(target, { random: () => x.slice() });
      const got = started.finish(reply);
      const after = v.keys_after_KH_100_bytes;
      const k = got.keys;
      expect(toHex(k.forwardDigestSeed) + toHex(k.backwardDigestSeed) + toHex(k.forwardKey) + toHex(k.backwardKey)).toBe(after.slice(0, 144));
      expect(toHex(got.kh!)).toBe(after.slice(144, 184));
      const answer = server.respond(x, relay, { random: () => reply.slice(0, 20) });
      expect(toHex(answer.reply)).toBe(v.server_CREATED_FAST_Y_KH);
    }
  });

  it('refuses a reply whose KH does not match, or that is not Y | KH', () => {
    const started = client.start(target);
    const reply = server.respond(started.onionskin, relay).reply.slice();
    reply[39]! ^= 1;
    expect(() => started.finish(reply)).toThrow(HandshakeError);
    expect(() => started.finish(reply.subarray(0, 39))).toThrow(HandshakeError);
  });
});
