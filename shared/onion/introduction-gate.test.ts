import { describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { Introduce2 } from '../cells/index.ts';
import { generateNtorKeyPair } from '../crypto/index.ts';
import { IntroductionGate, type IntroductionPointKeys } from './introduction-gate.ts';
import { buildIntroduce1 } from './introduce.ts';
import { ReplayCache } from './replay-cache.ts';

const seed = (n: number) => new Uint8Array(32).fill(n);

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
