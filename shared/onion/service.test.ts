import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes, utf8 } from '../bytes/util.ts';
import { EstablishIntro, HsAuthKeyType, Introduce2 } from '../cells/relay/onion-messages.ts';
import { generateNtorKeyPair } from '../crypto/ntor.ts';
import { buildIntroduce1 } from './introduce.ts';
import { HandshakeError, TelescopeError, UsageError } from '../errors.ts';
import { hsMac } from './hs-ntor.ts';
import { buildEstablishIntro, dosExtension, EST_INTRO_DOS_EXTENSION, IntroductionGate, nextRevisionCounter, ReplayCache, verifyEstablishIntro, type IntroductionPointKeys } from './service.ts';

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

describe('ReplayCache', () => {
  it('accepts a request once and recognises it again', () => {
    const c = new ReplayCache(4);
    const k = ReplayCache.keyOf(Uint8Array.of(1, 2, 3));
    expect(c.has(k)).toBe(false);
    expect(c.add(k)).toBe(true);
    expect(c.has(k)).toBe(true);
    expect(c.add(k)).toBe(false);
    expect(c.has(ReplayCache.keyOf(Uint8Array.of(1, 2, 4)))).toBe(false);
  });

  it('stops accepting when full instead of forgetting (a forgotten entry could be replayed)', () => {
    const c = new ReplayCache(3);
    for (let i = 0; i < 3; i++) expect(c.add(ReplayCache.keyOf(Uint8Array.of(i)))).toBe(true);
    expect(c.full).toBe(true);
    expect(c.add(ReplayCache.keyOf(Uint8Array.of(9)))).toBe(false);
    expect(c.has(ReplayCache.keyOf(Uint8Array.of(0)))).toBe(true);
    expect(() => new ReplayCache(0)).toThrow(UsageError);
  });
});

describe('revision counter', () => {
  const start = 1_700_000_000;
  it('is milliseconds since the epoch it is given', () => {
    expect(nextRevisionCounter(start * 1000 + 1234, start)).toBe(1234n);
  });

  it('always goes up, even when uploads come faster than the clock', () => {
    let last: bigint | undefined;
    const t = start * 1000 + 5000;
    for (let i = 0; i < 5; i++) {
      const next = nextRevisionCounter(t, start, last);
      if (last !== undefined) expect(next).toBeGreaterThan(last);
      last = next;
    }
    expect(last).toBe(5004n);
    // A later clock takes over again; a clock before the period start gives 0, then counts up.
    expect(nextRevisionCounter(t + 60_000, start, last)).toBe(65_000n);
    expect(nextRevisionCounter(start * 1000 - 10, start)).toBe(0n);
  });

  it('is monotonic for any sequence of clock readings (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 10 ** 9 }), { minLength: 1, maxLength: 30 }), (times) => {
      let last: bigint | undefined;
      for (const dt of times) {
        const next = nextRevisionCounter(start * 1000 + dt, start, last);
        if (last !== undefined) expect(next > last).toBe(true);
        last = next;
      }
    }));
  });
});

describe('IntroductionGate', () => {
  const subcred = new Uint8Array(32).fill(0x5c);
  const otherPeriod = new Uint8Array(32).fill(0x17);
  const point = (capacity = 100): IntroductionPointKeys => ({
    authKey: ed25519.getPublicKey(seed(11)),
    encKeyPair: generateNtorKeyPair(),
    replay: new ReplayCache(capacity),
  });
  /** What the introduction point relays: a client's INTRODUCE1 for `p` under `sc`. */
  const introduce = (p: IntroductionPointKeys, sc = subcred, cookie = 1): Introduce2 => Introduce2.fromIntroduce1(buildIntroduce1({
    introPoint: { authKey: p.authKey, encKey: p.encKeyPair.public, subcredential: sc },
    rendezvousCookie: new Uint8Array(20).fill(cookie),
    rendezvousPoint: { linkSpecifiers: [{ type: 'ipv4', address: Uint8Array.of(127, 0, 0, 1), port: 5000 }, { type: 'legacy-id', rsaIdentity: new Uint8Array(20).fill(3) }], onionKey: new Uint8Array(32).fill(9) },
  }).body);

  it('accepts a client\'s introduction under any published subcredential, and only once', () => {
    const gate = new IntroductionGate({ rate: 10, burst: 10, maxPending: 4 });
    const p = point();
    const msg = introduce(p, otherPeriod, 7);
    const first = gate.admit(p, msg, [subcred, otherPeriod]);
    expect(first.kind).toBe('accepted');
    if (first.kind !== 'accepted') return;
    expect(first.plaintext.rendezvousCookie).toEqual(new Uint8Array(20).fill(7));
    expect(first.pending.respond().handshakeInfo).toHaveLength(64);
    expect(gate.pending).toBe(1);
    // The introduction point (or anyone on its path) plays it again: dropped before any crypto.
    expect(gate.admit(p, msg, [subcred, otherPeriod]).kind).toBe('replay');
    gate.done();
    expect(gate.pending).toBe(0);
  });

  it('refuses introductions it cannot decrypt without remembering them', () => {
    const gate = new IntroductionGate({ rate: 10, burst: 10, maxPending: 4 });
    const p = point();
    const msg = introduce(p, otherPeriod);
    expect(gate.admit(p, msg, [subcred]).kind).toBe('undecryptable');
    expect(p.replay.size).toBe(0);
    // Garbage in ENCRYPTED (an introduction point forging cells) fails the MAC the same way.
    const forged = new Introduce2(msg.legacyKeyId, msg.authKeyType, msg.authKey, msg.extensions, Uint8Array.from(msg.encrypted, (b, i) => (i === 40 ? b ^ 1 : b)));
    expect(gate.admit(p, forged, [subcred, otherPeriod]).kind).toBe('undecryptable');
    // A different introduction point's auth key is a malformed request for this one.
    const elsewhere = introduce({ ...point(), authKey: ed25519.getPublicKey(seed(12)) });
    expect(gate.admit(p, elsewhere, [subcred]).kind).toBe('unusable');
  });

  it('a flood gets a burst, then the rate, and never more rendezvous at once than allowed', () => {
    let t = 0;
    const gate = new IntroductionGate({ rate: 2, burst: 5, maxPending: 100, now: () => t });
    const p = point(1000);
    const verdicts = Array.from({ length: 20 }, (_, i) => gate.admit(p, introduce(p, subcred, i), [subcred]).kind);
    expect(verdicts.filter((k) => k === 'accepted')).toHaveLength(5);
    expect(verdicts.slice(5).every((k) => k === 'rate-limited')).toBe(true);
    t += 1000; // one second earns two more
    const later = Array.from({ length: 5 }, (_, i) => gate.admit(p, introduce(p, subcred, 100 + i), [subcred]).kind);
    expect(later.filter((k) => k === 'accepted')).toHaveLength(2);

    const tight = new IntroductionGate({ rate: 100, burst: 100, maxPending: 2 });
    const q = point();
    const kinds = [0, 1, 2].map((i) => tight.admit(q, introduce(q, subcred, i), [subcred]).kind);
    expect(kinds).toEqual(['accepted', 'accepted', 'busy']);
    tight.done();
    expect(tight.admit(q, introduce(q, subcred, 3), [subcred]).kind).toBe('accepted');
  });

  it('stops at a full replay cache rather than forget what it has seen', () => {
    const gate = new IntroductionGate({ rate: 100, burst: 100, maxPending: 100 });
    const p = point(2);
    expect(gate.admit(p, introduce(p, subcred, 1), [subcred]).kind).toBe('accepted');
    expect(gate.admit(p, introduce(p, subcred, 2), [subcred]).kind).toBe('accepted');
    expect(gate.admit(p, introduce(p, subcred, 3), [subcred]).kind).toBe('busy');
  });
});
