import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { x25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex } from '../bytes/index.ts';
import { HandshakeError, ProtocolError, TelescopeError, UsageError } from '../util/index.ts';
import { Introduce1, Introduce2, type LinkSpecifier } from '../cells/index.ts';
import { hsV3KeysFrom, reverseHopKeys, tor1KeysFrom, ClientCircuitCrypto, RelayHopCrypto, RELAY_BODY_LEN } from '../crypto/index.ts';
import { HsNtorClient } from './hs-ntor.ts';
import {
  INTRODUCE1_MIN_SIZE,
  IntroduceExtType,
  OnionKeyType,
  buildIntroduce1,
  decodeIntroducePlaintext,
  encodeIntroducePlaintext,
  openIntroduce2,
  type Introduce1Request,
  type IntroducePlaintext,
} from './introduce.ts';
import { intro, serviceKeys, v, vec } from './fixtures/hs-ntor-vector.ts';


/** The plaintext of rend-spec-v3 appendix G.1, field by field. */
const vectorPlaintext: IntroducePlaintext = {
  rendezvousCookie: fromHex('6bd364c12638dd5c3be23d76aca05b04e6ce932c'),
  extensions: [{ type: IntroduceExtType.CC_REQUEST, body: new Uint8Array(0) }],
  onionKeyType: OnionKeyType.NTOR,
  onionKey: fromHex('0de6130e4fcac4edda24e21220cc3eadae403ef6b7d11c8273ac71908de56545'),
  linkSpecifiers: [
    { type: 'ipv4', address: fromHex('7f000001'), port: 5001 },
    { type: 'legacy-id', rsaIdentity: fromHex('f823c4f8cc085c792e0aee0283fe00ad7520b37d') },
    { type: 'ed25519-id', ed25519Identity: fromHex('728d5df39b7b7077a0118a900ff4456c382f0041300acf9c58e51c392795ef87') },
  ],
};

describe('INTRODUCE plaintext', () => {
  it('decodes the vector\'s plaintext and encodes it back with tor\'s padding', () => {
    const P = fromHex(v.P);
    expect(decodeIntroducePlaintext(P)).toEqual(vectorPlaintext);
    const bare = encodeIntroducePlaintext(vectorPlaintext);
    expect(toHex(encodeIntroducePlaintext(vectorPlaintext, P.length - bare.length))).toBe(v.P);
  });

  it('rejects an ntor key of the wrong length and truncations with ProtocolError', () => {
    const bad = encodeIntroducePlaintext({ ...vectorPlaintext, onionKeyType: 7, onionKey: new Uint8Array(31) });
    bad[20 + 1 + 2] = OnionKeyType.NTOR; // cookie, extension count, one empty extension
    expect(() => decodeIntroducePlaintext(bad)).toThrow(ProtocolError);
    const good = encodeIntroducePlaintext(vectorPlaintext);
    for (let n = 0; n < good.length; n++) expect(() => decodeIntroducePlaintext(good.subarray(0, n))).toThrow(ProtocolError);
  });

  it('refuses to encode what it could not decode', () => {
    expect(() => encodeIntroducePlaintext({ ...vectorPlaintext, rendezvousCookie: new Uint8Array(19) })).toThrow(UsageError);
    expect(() => encodeIntroducePlaintext({ ...vectorPlaintext, onionKey: new Uint8Array(33) })).toThrow(UsageError);
  });

  const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
  const linkSpecifier: fc.Arbitrary<LinkSpecifier> = fc.oneof(
    fc.record({ type: fc.constant('ipv4' as const), address: bytes(4, 4), port: fc.integer({ min: 0, max: 0xffff }) }),
    fc.record({ type: fc.constant('ipv6' as const), address: bytes(16, 16), port: fc.integer({ min: 0, max: 0xffff }) }),
    fc.record({ type: fc.constant('legacy-id' as const), rsaIdentity: bytes(20, 20) }),
    fc.record({ type: fc.constant('ed25519-id' as const), ed25519Identity: bytes(32, 32) }),
    fc.record({ type: fc.constant('unrecognized' as const), code: fc.integer({ min: 4, max: 255 }), body: bytes(0, 40) }),
  );
  const plaintext: fc.Arbitrary<IntroducePlaintext> = fc.oneof(
    fc.record({
      rendezvousCookie: bytes(20, 20),
      extensions: fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), body: bytes(0, 40) }), { maxLength: 4 }),
      onionKeyType: fc.constant(OnionKeyType.NTOR),
      onionKey: bytes(32, 32),
      linkSpecifiers: fc.array(linkSpecifier, { maxLength: 6 }),
    }),
    fc.record({
      rendezvousCookie: bytes(20, 20),
      extensions: fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), body: bytes(0, 40) }), { maxLength: 4 }),
      onionKeyType: fc.integer({ min: 2, max: 255 }),
      onionKey: bytes(0, 80),
      linkSpecifiers: fc.array(linkSpecifier, { maxLength: 6 }),
    }),
  );

  it('decode(encode(x)) equals x, with or without padding', () => {
    fc.assert(
      fc.property(plaintext, fc.integer({ min: 0, max: 100 }), (p, padding) => {
        expect(decodeIntroducePlaintext(encodeIntroducePlaintext(p, padding))).toEqual(p);
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes decode or give a typed error, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        try {
          decodeIntroducePlaintext(data);
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('mutated valid plaintexts decode or give a typed error', () => {
    fc.assert(
      fc.property(plaintext, fc.nat(), fc.integer({ min: 0, max: 255 }), (p, at, value) => {
        const data = encodeIntroducePlaintext(p);
        data[at % data.length] = value;
        try {
          decodeIntroducePlaintext(data);
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** The same introduction as a client asks for it. */
const vectorRequest: Introduce1Request = {
  introPoint: intro,
  rendezvousCookie: vectorPlaintext.rendezvousCookie,
  rendezvousPoint: { linkSpecifiers: vectorPlaintext.linkSpecifiers, onionKey: vectorPlaintext.onionKey },
  extensions: vectorPlaintext.extensions,
};

describe('INTRODUCE1 and INTRODUCE2 with hs-ntor', () => {
  it('builds the vector\'s INTRODUCE1 body exactly from its fields', () => {
    const { body } = buildIntroduce1({ ...vectorRequest, ephemeralSecret: fromHex(v.x) });
    expect(body).toBeInstanceOf(Introduce1);
    expect(toHex(body.encode())).toBe(v.INTRODUCE1_body);
    expect(fromHex(v.H).length + fromHex(v.P).length).toBe(INTRODUCE1_MIN_SIZE);
  });

  it('opens the vector\'s INTRODUCE2 and answers as the vector does', () => {
    const { plaintext, pending, message } = openIntroduce2(serviceKeys, fromHex(v.INTRODUCE1_body));
    expect(plaintext).toEqual(vectorPlaintext);
    expect(toHex(message.authKey)).toBe(v.KP_hs_ipt_sid);
    expect(toHex(pending.respond({ ephemeralSecret: fromHex(v.y) }).handshakeInfo)).toBe(vec.RENDEZVOUS1_handshake_info_Y_AUTH);
  });

  it('a whole introduction and rendezvous: both ends get working hop keys', () => {
    const rpOnionKey = x25519.getPublicKey(new Uint8Array(32).fill(3));
    const cookie = new Uint8Array(20).fill(9);
    const { body, pending } = buildIntroduce1({
      introPoint: intro,
      rendezvousCookie: cookie,
      rendezvousPoint: { linkSpecifiers: vectorPlaintext.linkSpecifiers, onionKey: rpOnionKey },
    });
    expect(body.encode().length).toBe(INTRODUCE1_MIN_SIZE + 64);
    // The introduction point relays the body unchanged as INTRODUCE2.
    const opened = openIntroduce2(serviceKeys, Introduce2.fromIntroduce1(Introduce1.decode(body.encode())));
    expect(opened.plaintext).toEqual({ ...vectorPlaintext, extensions: [], rendezvousCookie: cookie, onionKey: rpOnionKey });
    const answer = opened.pending.respond();
    const keys = pending.finish(answer.handshakeInfo);
    expect(toHex(keys.keyMaterial)).toBe(toHex(answer.keyMaterial));

    // Rendezvous point R joins the client's circuit (layer a) to the service's (layer b).
    const a = tor1KeysFrom(new Uint8Array(72).fill(1));
    const b = tor1KeysFrom(new Uint8Array(72).fill(2));
    const client = new ClientCircuitCrypto();
    client.addHop(a);
    client.addHop(hsV3KeysFrom(keys.keyMaterial));
    const service = new ClientCircuitCrypto();
    service.addHop(b);
    service.addHop(reverseHopKeys(hsV3KeysFrom(answer.keyMaterial)));
    const [ra, rb] = [new RelayHopCrypto(a), new RelayHopCrypto(b)];
    const cell = new Uint8Array(RELAY_BODY_LEN).fill(0x33);
    service.encryptOutbound(cell, 1);
    expect(rb.decryptOutbound(cell)).toBe(false);
    ra.encryptInbound(cell, false);
    expect(client.decryptInbound(cell)).toBe(1);
    expect(cell[100]).toBe(0x33);
  });

  it('a service refuses cells for another introduction point or of another kind', () => {
    const good = fromHex(v.INTRODUCE1_body);
    const legacy = good.slice();
    legacy[3] = 1;
    expect(() => openIntroduce2(serviceKeys, legacy)).toThrow(ProtocolError);
    const rsa = good.slice();
    rsa[20] = 1;
    expect(() => openIntroduce2(serviceKeys, rsa)).toThrow(ProtocolError);
    expect(() => openIntroduce2({ ...serviceKeys, authKey: new Uint8Array(32) }, good)).toThrow(ProtocolError);
    const tampered = good.slice();
    tampered[good.length - 40]! ^= 1;
    expect(() => openIntroduce2(serviceKeys, tampered)).toThrow(HandshakeError);
  });

  it('a service refuses an authenticated plaintext with an unsupported onion key type', () => {
    const header = fromHex(v.H);
    const odd = encodeIntroducePlaintext({ ...vectorPlaintext, onionKeyType: 2, onionKey: new Uint8Array(40) });
    const { encrypted } = HsNtorClient.start(intro, header, odd);
    expect(() => openIntroduce2(serviceKeys, new Uint8Array([...header, ...encrypted]))).toThrow(ProtocolError);
  });

  it('a client refuses a plaintext too big for one relay message', () => {
    const many: LinkSpecifier[] = Array.from({ length: 12 }, () => ({ type: 'ed25519-id', ed25519Identity: new Uint8Array(32) }));
    expect(() => buildIntroduce1({ ...vectorRequest, rendezvousPoint: { linkSpecifiers: many, onionKey: vectorPlaintext.onionKey } })).toThrow(UsageError);
  });

  it('random INTRODUCE2 bodies give typed errors only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 498 }), (data) => {
        try {
          openIntroduce2(serviceKeys, data);
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
