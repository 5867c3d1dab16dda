import { describe, expect, it } from 'vitest';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { fromHex, toBase64, toHex, utf8 } from '../bytes/index.ts';
import { UsageError } from '../util/index.ts';
import {
  DescriptorError,
  buildDescriptor,
  checkInnerLayerCerts,
  decodeDescriptor,
  decryptFirstLayer,
  decryptSecondLayer,
  parseInnerLayer,
  parseMiddleLayer,
  parseOuterDescriptor,
  verifyOuterDescriptor,
  type BuildDescriptorOptions,
  type DescriptorProblem,
  type IntroPointInput,
} from './descriptor.ts';
import { ENCRYPTED_CONSTANT, curve25519ToEd25519Public, openLayer, recoverDescriptorCookie, sealLayer, unpadPlaintext } from './descriptor-crypto.ts';
import { buildOuterDescriptor } from './descriptor-outer.ts';
import vectors from './fixtures/hsdesc-vectors.json';
import stemVectors from './fixtures/hsdesc-stem-vectors.json';
import hsdesc1 from './fixtures/hsdesc1.txt?raw';
import hsdesc1Middle from './fixtures/hsdesc1-middle.txt?raw';
import hsdesc1Inner from './fixtures/hsdesc1-inner.txt?raw';
import hsdesc2 from './fixtures/hsdesc2.txt?raw';
import hsdesc2Middle from './fixtures/hsdesc2-middle.txt?raw';
import hsdesc2Inner from './fixtures/hsdesc2-inner.txt?raw';
import stemDesc from './fixtures/hsdesc-stem.txt?raw';
import stemMiddle from './fixtures/hsdesc-stem-middle.txt?raw';
import stemInner from './fixtures/hsdesc-stem-inner.txt?raw';
import ctorBadSig from './fixtures/hsdesc-ctor-bad-sig.txt?raw';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const v1 = vectors.descriptors.hsdesc1;
const v2 = vectors.descriptors.hsdesc2;
/** Times at which arti validates these descriptors (hsdesc_vectors.json "source"). */
const NOW1 = new Date('2023-01-24T03:00:00Z');
const NOW2 = new Date('2023-02-09T12:00:00Z');

function expectProblem(f: () => unknown, problem: DescriptorProblem): DescriptorError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DescriptorError);
    expect((e as DescriptorError).problem, (e as Error).message).toBe(problem);
    return e as DescriptorError;
  }
  throw new Error(`expected a DescriptorError (${problem})`);
}

describe('real descriptors (C tor, via arti test data)', () => {
  it('hsdesc1: outer document parses and verifies against the blinded key', () => {
    const outer = parseOuterDescriptor(hsdesc1);
    expect(outer.lifetimeMinutes).toBe(vectors.expected_from_arti_tests.hsdesc1.lifetime_minutes);
    expect(outer.revisionCounter).toBe(BigInt(v1.revision_counter));
    const verified = verifyOuterDescriptor(outer, fromHex(v1.blinded_pubkey), NOW1);
    expect(toHex(verified.signingKey)).toBe(v1.descriptor_signing_key);
    expect(verified.signingKeyExpires.toISOString()).toBe('2023-01-26T03:00:00.000Z');
    expect(outer.signingKeyCert.unchecked.expirationHours).toBe(v1.signing_cert_expires_hours_since_epoch);
  });

  it('hsdesc1: both layers decrypt to exactly the known plaintexts', () => {
    const outer = parseOuterDescriptor(hsdesc1);
    const blinded = fromHex(v1.blinded_pubkey);
    const subcred = fromHex(v1.subcredential);
    const first = decryptFirstLayer(outer, blinded, subcred);
    expect(first.length % 10_000).toBe(0); // NUL-padded to a multiple of 10k
    // The known plaintext is without padding and, like C tor writes it, without a final newline.
    expect(text(unpadPlaintext(first))).toBe(`${hsdesc1Middle}\n`);
    const middle = parseMiddleLayer(first);
    expect(middle.authType).toBe('x25519');
    expect(middle.authClients).toHaveLength(vectors.expected_from_arti_tests.hsdesc1.middle_layer_auth_client_lines);
    expect(toHex(middle.ephemeralKey).toUpperCase()).toBe(vectors.expected_from_arti_tests.hsdesc1.middle_layer_svc_desc_enc_key);
    const second = decryptSecondLayer(middle, blinded, subcred, outer.revisionCounter);
    expect(second && text(second)).toBe(hsdesc1Inner);
  });

  it('hsdesc1: decodeDescriptor gives the introduction points', () => {
    const d = decodeDescriptor(hsdesc1, { blindedKey: fromHex(v1.blinded_pubkey), subcredential: fromHex(v1.subcredential), now: NOW1 });
    const e = vectors.expected_from_arti_tests.hsdesc1;
    expect(d.introPoints).toHaveLength(e.intro_points);
    expect(toHex(d.introPoints[0]!.onionKey).toUpperCase()).toBe(e.first_intro_point_ntor_key);
    expect(d.singleOnionService).toBe(e.single_onion_service);
    expect(d.usedClientAuth).toBe(false);
    expect(d.create2Formats).toEqual([2]);
    expect(d.introAuthRequired).toBeUndefined();
    expect(d.revisionCounter).toBe(BigInt(v1.revision_counter));
    expect(d.lifetimeMinutes).toBe(180);
    const ip = d.introPoints[0]!;
    expect(ip.linkSpecifiers.map((l) => l.type)).toEqual(['ipv4', 'legacy-id', 'ed25519-id']);
    expect(ip.authKey).toEqual(ip.authKeyCert.unchecked.certifiedKey);
    expect(ip.encKey).toHaveLength(32);
    // Intro points are distinct relays.
    expect(toHex(d.introPoints[0]!.authKey)).not.toBe(toHex(d.introPoints[1]!.authKey));
  });

  it('hsdesc2 needs client auth: without a key, with the right key, with a wrong key', () => {
    const opts = { blindedKey: fromHex(v2.blinded_pubkey), subcredential: fromHex(v2.subcredential), now: NOW2 };
    expectProblem(() => decodeDescriptor(hsdesc2, opts), 'needs-client-auth');
    expectProblem(() => decodeDescriptor(hsdesc2, { ...opts, clientAuthSecretKey: x25519.utils.randomSecretKey() }), 'bad-client-auth');

    const d = decodeDescriptor(hsdesc2, { ...opts, clientAuthSecretKey: fromHex(v2.client_auth_x25519_secret) });
    expect(d.usedClientAuth).toBe(true);
    expect(d.introPoints).toHaveLength(vectors.expected_from_arti_tests.hsdesc2.intro_points);
    expect(d.flowControl).toEqual({ versions: '1-2', sendmeInc: 31 });
    expect(d.introPoints[0]!.linkSpecifiers.map((l) => l.type)).toEqual(['ipv4', 'legacy-id', 'ed25519-id', 'ipv6']);
  });

  it('hsdesc2: the cookie and both plaintexts are exactly the known ones', () => {
    const outer = parseOuterDescriptor(hsdesc2);
    const blinded = fromHex(v2.blinded_pubkey);
    const subcred = fromHex(v2.subcredential);
    const middle = parseMiddleLayer(decryptFirstLayer(outer, blinded, subcred));
    expect(text(unpadPlaintext(decryptFirstLayer(outer, blinded, subcred)))).toBe(`${hsdesc2Middle}\n`);
    const clientSecret = fromHex(v2.client_auth_x25519_secret);
    expect(toHex(x25519.getPublicKey(clientSecret))).toBe(v2.client_auth_x25519_public);
    const cookie = recoverDescriptorCookie(middle.authClients, middle.ephemeralKey, clientSecret, subcred);
    expect(cookie && toHex(cookie)).toBe(v2.descriptor_cookie_computed_by_helper);
    expect(decryptSecondLayer(middle, blinded, subcred, outer.revisionCounter)).toBeUndefined();
    const second = decryptSecondLayer(middle, blinded, subcred, outer.revisionCounter, cookie);
    expect(second && text(second)).toBe(hsdesc2Inner);
  });

  it('the enc-key-cert of every real intro point certifies the Ed25519 form of its enc-key', () => {
    for (const inner of [hsdesc1Inner, hsdesc2Inner]) {
      for (const ip of parseInnerLayer(inner).introPoints) {
        expect(toHex(ip.encKeyCert.unchecked.certifiedKey)).toBe(toHex(curve25519ToEd25519Public(ip.encKey)!));
      }
    }
  });
});

describe('stem test descriptor (synthetic intro point keys)', () => {
  const blinded = fromHex(stemVectors.blinded_pubkey_from_cert_ext);
  const subcred = fromHex(stemVectors.subcredential);

  it('decrypts to stem\'s own layer files, padding included', () => {
    const outer = parseOuterDescriptor(stemDesc);
    expect(outer.revisionCounter).toBe(42n);
    const valid = new Date(outer.signingKeyCert.unchecked.expires.getTime() - 3_600_000);
    verifyOuterDescriptor(outer, blinded, valid);
    const first = decryptFirstLayer(outer, blinded, subcred);
    expect(text(first)).toBe(stemMiddle);
    const middle = parseMiddleLayer(first);
    const second = decryptSecondLayer(middle, blinded, subcred, outer.revisionCounter);
    expect(second && text(second)).toBe(stemInner);
  });

  it('parses the inner layer: options, four intro points, legacy keys ignored', () => {
    const inner = parseInnerLayer(stemInner);
    expect(inner.create2Formats).toEqual([2]);
    expect(inner.introAuthRequired).toEqual(['ed25519']);
    expect(inner.singleOnionService).toBe(true);
    expect(inner.introPoints).toHaveLength(4);
    expect(inner.introPoints[1]!.linkSpecifiers.map((l) => l.type)).toEqual(['legacy-id', 'ipv6']);
  });

  it('is refused as a whole: its enc-key-certs do not certify its (all-zero) enc-keys', () => {
    const outer = parseOuterDescriptor(stemDesc);
    const now = new Date(outer.signingKeyCert.unchecked.expires.getTime() - 3_600_000);
    const err = expectProblem(() => decodeDescriptor(stemDesc, { blindedKey: blinded, subcredential: subcred, now }), 'bad-cert');
    expect(err.message).toMatch(/enc-key-cert does not certify/);
  });
});

describe('tampering and wrong keys are refused with the right kind', () => {
  const blinded = fromHex(v1.blinded_pubkey);
  const subcred = fromHex(v1.subcredential);
  const opts = { blindedKey: blinded, subcredential: subcred, now: NOW1 };

  it('C tor\'s HS_DESC_BAD_SIG (a stray space before "signature") is malformed; without it, it verifies', () => {
    expectProblem(() => parseOuterDescriptor(ctorBadSig), 'malformed');
    const fixed = ctorBadSig.replace('\n signature', '\nsignature');
    const outer = parseOuterDescriptor(fixed);
    const key = outer.signingKeyCert.unchecked.signingKeyFromExtension!;
    // This confirms the signed range: from the start up to, not including, "signature".
    verifyOuterDescriptor(outer, key, new Date(outer.signingKeyCert.unchecked.expires.getTime() - 1000));
    const tampered = fixed.replace('revision-counter 42', 'revision-counter 43');
    expectProblem(() => verifyOuterDescriptor(parseOuterDescriptor(tampered), key, new Date(outer.signingKeyCert.unchecked.expires.getTime() - 1000)), 'bad-signature');
  });

  it('a changed revision counter, superencrypted blob or signature breaks the signature', () => {
    expectProblem(() => decodeDescriptor(hsdesc1.replace(`revision-counter ${v1.revision_counter}`, `revision-counter ${v1.revision_counter + 1}`), opts), 'bad-signature');
    const lines = hsdesc1.split('\n');
    const blobLine = lines.indexOf('-----BEGIN MESSAGE-----') + 5;
    const l = lines[blobLine]!;
    lines[blobLine] = (l[0] === 'A' ? 'B' : 'A') + l.slice(1);
    expectProblem(() => decodeDescriptor(lines.join('\n'), opts), 'bad-signature');
    const sig = /signature (\S+)/.exec(hsdesc1)![1]!;
    const bytes = parseOuterDescriptor(hsdesc1).signature.slice();
    bytes[10]! ^= 1;
    expectProblem(() => decodeDescriptor(hsdesc1.replace(sig, toBase64(bytes, false)), opts), 'bad-signature');
  });

  it('another blinded key, an expired certificate, the wrong subcredential', () => {
    expectProblem(() => decodeDescriptor(hsdesc1, { ...opts, blindedKey: fromHex(v2.blinded_pubkey) }), 'wrong-blinded-key');
    expectProblem(() => decodeDescriptor(hsdesc1, { ...opts, now: new Date('2023-01-26T03:00:01Z') }), 'expired-cert');
    expectProblem(() => decodeDescriptor(hsdesc1, { ...opts, subcredential: fromHex(v2.subcredential) }), 'decrypt-failed');
  });

  it('a version other than 3, a missing item, a duplicated item', () => {
    expectProblem(() => parseOuterDescriptor(hsdesc1.replace('hs-descriptor 3', 'hs-descriptor 4')), 'unsupported-version');
    expectProblem(() => parseOuterDescriptor('hs-descriptor 4\nsomething-else entirely\n'), 'unsupported-version');
    expectProblem(() => parseOuterDescriptor(hsdesc1.replace('descriptor-lifetime 180\n', '')), 'malformed');
    expectProblem(() => parseOuterDescriptor(hsdesc1.replace('descriptor-lifetime 180\n', 'descriptor-lifetime 180\ndescriptor-lifetime 180\n')), 'malformed');
    expectProblem(() => parseOuterDescriptor(hsdesc1.replace('descriptor-lifetime 180', 'descriptor-lifetime 5000')), 'malformed');
    expectProblem(() => parseOuterDescriptor(`x 1\n${hsdesc1}`), 'malformed');
    expectProblem(() => parseOuterDescriptor(`${hsdesc1}x 1\n`), 'malformed');
    // Unknown items in the middle are ignored (and covered by the signature).
    expect(parseOuterDescriptor(hsdesc1.replace('revision-counter', 'x-future 1\nrevision-counter')).revisionCounter).toBe(BigInt(v1.revision_counter));
  });

  it('a layer with any flipped bit fails its MAC', () => {
    const k = { secretData: blinded, subcredential: subcred, revisionCounter: 7n, constant: ENCRYPTED_CONSTANT };
    const blob = sealLayer(utf8('create2-formats 2\n'), k);
    expect(text(openLayer(blob, k)!)).toBe('create2-formats 2\n');
    for (const at of [0, 15, 16, blob.length - 33, blob.length - 1]) {
      const bad = blob.slice();
      bad[at]! ^= 0x80;
      expect(openLayer(bad, k)).toBeUndefined();
    }
    expect(openLayer(blob, { ...k, revisionCounter: 8n })).toBeUndefined();
    expectProblem(() => openLayer(blob.subarray(0, 47), k), 'malformed');
  });
});

// ---------------------------------------------------------------------------------------------
// Round trips: a plain Ed25519 key stands in for the blinded key (the cryptography is the same).

function keypair(): { secret: Uint8Array; publicKey: Uint8Array; sign: (m: Uint8Array) => Uint8Array } {
  const secret = ed25519.utils.randomSecretKey();
  return { secret, publicKey: ed25519.getPublicKey(secret), sign: (m) => ed25519.sign(m, secret) };
}

function introPoint(n: number): IntroPointInput {
  return {
    linkSpecifiers: [
      { type: 'ipv4', address: Uint8Array.of(127, 0, 0, 1), port: 5000 + n },
      { type: 'legacy-id', rsaIdentity: new Uint8Array(20).fill(n) },
      { type: 'ed25519-id', ed25519Identity: new Uint8Array(32).fill(n + 1) },
      { type: 'unrecognized', code: 77, body: Uint8Array.of(1, 2, 3) },
    ],
    onionKey: x25519.getPublicKey(x25519.utils.randomSecretKey()),
    authKey: keypair().publicKey,
    encKey: x25519.getPublicKey(x25519.utils.randomSecretKey()),
  };
}

function serviceOptions(extra: Partial<BuildDescriptorOptions> = {}): BuildDescriptorOptions {
  const blinded = keypair();
  const signing = keypair();
  return {
    blindedKey: blinded.publicKey,
    signWithBlindedKey: blinded.sign,
    signingKey: signing.publicKey,
    signWithSigningKey: signing.sign,
    subcredential: globalThis.crypto.getRandomValues(new Uint8Array(32)),
    revisionCounter: 123456789012n,
    now: new Date('2025-06-01T12:00:00Z'),
    inner: {
      introAuthRequired: ['ed25519'],
      singleOnionService: true,
      flowControl: { versions: '1-2', sendmeInc: 31 },
      powParams: [{ type: 'v1', seed: new Uint8Array(32).fill(9), suggestedEffort: 614, expires: new Date('2025-06-01T14:00:00Z') }],
      introPoints: [introPoint(1), introPoint(2), introPoint(3)],
    },
    ...extra,
  };
}

describe('round trip: build → parse → verify → decrypt', () => {
  const later = new Date('2025-06-01T13:00:00Z');

  it('without client auth: every field comes back; 16 fake auth-client lines; padded first layer', () => {
    const o = serviceOptions();
    const doc = buildDescriptor(o);
    const d = decodeDescriptor(doc, { blindedKey: o.blindedKey, subcredential: o.subcredential, now: later });
    expect(d.usedClientAuth).toBe(false);
    expect(d.revisionCounter).toBe(o.revisionCounter);
    expect(d.lifetimeMinutes).toBe(180);
    expect(d.signingKey).toEqual(o.signingKey);
    expect(d.signingKeyExpires.toISOString()).toBe('2025-06-03T18:00:00.000Z'); // now + 54 h
    expect(d.create2Formats).toEqual([2]);
    expect(d.introAuthRequired).toEqual(['ed25519']);
    expect(d.singleOnionService).toBe(true);
    expect(d.flowControl).toEqual({ versions: '1-2', sendmeInc: 31 });
    expect(d.powParams).toEqual(o.inner.powParams);
    expect(d.introPoints.map((ip) => ({ linkSpecifiers: ip.linkSpecifiers, onionKey: ip.onionKey, authKey: ip.authKey, encKey: ip.encKey }))).toEqual(o.inner.introPoints);

    const outer = parseOuterDescriptor(doc);
    const first = decryptFirstLayer(outer, o.blindedKey, o.subcredential);
    expect(first.length).toBe(10_000);
    expect(first[first.length - 1]).toBe(0);
    const middle = parseMiddleLayer(first);
    expect(middle.authClients).toHaveLength(16);
    // Even a client with a key reads a service without client auth.
    const withKey = decodeDescriptor(doc, { blindedKey: o.blindedKey, subcredential: o.subcredential, now: later, clientAuthSecretKey: x25519.utils.randomSecretKey() });
    expect(withKey.usedClientAuth).toBe(false);
    // A fresh build differs everywhere (salts, ephemeral key, fake entries).
    expect(buildDescriptor(o)).not.toBe(doc);
  });

  it('with client auth: each authorized client decrypts, others are told what is wrong', () => {
    const clients = [x25519.utils.randomSecretKey(), x25519.utils.randomSecretKey()];
    const o = serviceOptions({ authorizedClients: clients.map((c) => x25519.getPublicKey(c)) });
    const doc = buildDescriptor(o);
    const base = { blindedKey: o.blindedKey, subcredential: o.subcredential, now: later };
    for (const c of clients) {
      const d = decodeDescriptor(doc, { ...base, clientAuthSecretKey: c });
      expect(d.usedClientAuth).toBe(true);
      expect(d.introPoints).toHaveLength(3);
    }
    expectProblem(() => decodeDescriptor(doc, base), 'needs-client-auth');
    expectProblem(() => decodeDescriptor(doc, { ...base, clientAuthSecretKey: x25519.utils.randomSecretKey() }), 'bad-client-auth');
    const middle = parseMiddleLayer(decryptFirstLayer(parseOuterDescriptor(doc), o.blindedKey, o.subcredential));
    expect(middle.authClients).toHaveLength(16);
    expect(middle.authClients.every((e) => e.encryptedCookie.length === 16)).toBe(true);
  });

  it('17 clients make 32 auth-client lines; no intro points is a valid (unreachable) service', () => {
    const keys = Array.from({ length: 17 }, () => x25519.getPublicKey(x25519.utils.randomSecretKey()));
    const o = serviceOptions({ authorizedClients: keys, inner: { introPoints: [] } });
    const doc = buildDescriptor(o);
    const middle = parseMiddleLayer(decryptFirstLayer(parseOuterDescriptor(doc), o.blindedKey, o.subcredential));
    expect(middle.authClients).toHaveLength(32);
    expectProblem(() => decodeDescriptor(doc, { blindedKey: o.blindedKey, subcredential: o.subcredential, now: later }), 'needs-client-auth');
  });

  it('expired intro point certificates and foreign signers are caught', () => {
    const o = serviceOptions({ certLifetimeHours: 1 });
    const doc = buildDescriptor(o);
    const base = { blindedKey: o.blindedKey, subcredential: o.subcredential };
    decodeDescriptor(doc, { ...base, now: new Date('2025-06-01T12:30:00Z') });
    expectProblem(() => decodeDescriptor(doc, { ...base, now: new Date('2025-06-01T14:00:01Z') }), 'expired-cert');

    // Intro certificates signed by some other key than the descriptor signing key.
    const outer = verifyOuterDescriptor(parseOuterDescriptor(doc), o.blindedKey, later);
    const middle = parseMiddleLayer(decryptFirstLayer(outer, o.blindedKey, o.subcredential));
    const inner = parseInnerLayer(decryptSecondLayer(middle, o.blindedKey, o.subcredential, outer.revisionCounter)!);
    expectProblem(() => checkInnerLayerCerts(inner, keypair().publicKey, later), 'bad-cert');
  });

  it('a signing-key certificate not signed by the blinded key is refused', () => {
    const o = serviceOptions();
    const impostor = keypair();
    // Claims the real blinded key in its extension but is signed by another key.
    const doc = buildOuterDescriptor({
      blindedKey: o.blindedKey,
      signWithBlindedKey: impostor.sign,
      signingKey: o.signingKey,
      signWithSigningKey: o.signWithSigningKey,
      signingKeyCertExpires: new Date('2025-06-02T00:00:00Z'),
      lifetimeMinutes: 180,
      revisionCounter: 1n,
      superencrypted: new Uint8Array(100),
    });
    expectProblem(() => verifyOuterDescriptor(parseOuterDescriptor(doc), o.blindedKey, later), 'bad-cert');
  });

  it('refuses impossible inputs as usage errors', () => {
    expect(() => buildDescriptor(serviceOptions({ lifetimeMinutes: 10 }))).toThrow(UsageError);
    expect(() => buildDescriptor(serviceOptions({ revisionCounter: 1n << 64n }))).toThrow(UsageError);
    expect(() => buildDescriptor(serviceOptions({ inner: { introPoints: Array.from({ length: 21 }, (_, i) => introPoint(i)) } }))).toThrow(UsageError);
    expect(() => decodeDescriptor(hsdesc1, { blindedKey: new Uint8Array(31), subcredential: new Uint8Array(32), now: NOW1 })).toThrow(UsageError);
  });
});
