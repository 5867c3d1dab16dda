import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex } from '../bytes/index.ts';
import { TelescopeError } from '../util/index.ts';
import {
  DescriptorError,
  decodeDescriptor,
  encodeInnerLayer,
  encodeMiddleLayer,
  parseInnerLayer,
  parseMiddleLayer,
  parseOuterDescriptor,
  type DescriptorProblem,
  type InnerLayerInput,
  type MiddleLayer,
} from './descriptor.ts';
import { unpadPlaintext } from './descriptor-crypto.ts';
import vectors from './fixtures/hsdesc-vectors.json';
import hsdesc1 from './fixtures/hsdesc1.txt?raw';
import hsdesc1Middle from './fixtures/hsdesc1-middle.txt?raw';
import hsdesc2Inner from './fixtures/hsdesc2-inner.txt?raw';
import powV1 from './fixtures/hsdesc-inner-pow-v1.txt?raw';
import powEmpty from './fixtures/hsdesc-inner-pow-empty.txt?raw';

function expectProblem(f: () => unknown, problem: DescriptorProblem): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DescriptorError);
    expect((e as DescriptorError).problem, (e as Error).message).toBe(problem);
    return;
  }
  throw new Error(`expected a DescriptorError (${problem})`);
}

/** The inner layer up to its first intro point, and its last intro point section. */
const [innerHeader, ...ipSections] = hsdesc2Inner.split(/(?=^introduction-point )/m) as [string, ...string[]];
const oneIntroPoint = ipSections[ipSections.length - 1]!;

describe('inner layer', () => {
  it('pow-params v1 from C tor', () => {
    const inner = parseInnerLayer(powV1);
    expect(inner.powParams).toHaveLength(1);
    const p = inner.powParams[0]!;
    expect(p.type).toBe('v1');
    expect(toHex(p.seed)).toBe('144e901df0841833a6e8592190849b4412f307d1565f2f137b2a5bc21a31092a');
    expect(p.suggestedEffort).toBe(614);
    expect(p.expires.getTime()).toBe(1712812537_000);
    expect(inner.introPoints).toHaveLength(3);
  });

  it('pow-params: empty is malformed, v1 twice is malformed, v1 with an object is malformed', () => {
    expectProblem(() => parseInnerLayer(powEmpty), 'malformed');
    const line = /^pow-params .*$/m.exec(powV1)![0];
    expectProblem(() => parseInnerLayer(powV1.replace(line, `${line}\n${line}`)), 'malformed');
    expectProblem(() => parseInnerLayer(powV1.replace(line, `${line}\n-----BEGIN THING-----\n-----END THING-----`)), 'malformed');
    expectProblem(() => parseInnerLayer(powV1.replace(line, line.replace('2024-04-11T05:15:37', '2024-04-31T05:15:37'))), 'malformed');
  });

  it('unknown pow schemes (repeated, with objects) and unknown lines are ignored', () => {
    const withUnknown = powEmpty.replace(/^pow-params$/m, 'pow-params x-example\npow-params x-example\npow-params x-else with args\n-----BEGIN THING-----\n-----END THING-----\nx-future-line 1 2 3');
    const inner = parseInnerLayer(withUnknown);
    expect(inner.powParams).toEqual([]);
    const line = /^pow-params .*$/m.exec(powV1)![0];
    expect(parseInnerLayer(powV1.replace(line, `pow-params x-example\n${line}`)).powParams).toHaveLength(1);
    // Other onion-key / enc-key types are ignored, as rend-spec says.
    const ip = parseInnerLayer(hsdesc2Inner.replace(/^onion-key ntor/m, 'onion-key x-new AAAA\nonion-key ntor')).introPoints[0]!;
    expect(ip.onionKey).toHaveLength(32);
  });

  it('header and intro point rules', () => {
    expectProblem(() => parseInnerLayer(hsdesc2Inner.replace('create2-formats 2', 'create2-formats 3')), 'malformed');
    expectProblem(() => parseInnerLayer(hsdesc2Inner.replace('create2-formats 2\n', '')), 'malformed');
    expectProblem(() => parseInnerLayer(hsdesc2Inner.replace('create2-formats 2', 'create2-formats 2\ncreate2-formats 2')), 'malformed');
    expectProblem(() => parseInnerLayer(`${hsdesc2Inner}single-onion-service\n`), 'malformed'); // header item after intro points
    expectProblem(() => parseInnerLayer(hsdesc2Inner.replace(/^enc-key ntor .*\n/m, '')), 'malformed');
    expectProblem(() => parseInnerLayer(hsdesc2Inner.replace(/^onion-key ntor .*\n/m, '')), 'malformed');
    expectProblem(() => parseInnerLayer(hsdesc2Inner.replace(/^auth-key\n/m, 'x-gone\n')), 'malformed');
    expectProblem(() => parseInnerLayer(hsdesc2Inner.replace(/^introduction-point \S+/m, 'introduction-point AQ==')), 'malformed');
    expectProblem(() => parseInnerLayer(hsdesc2Inner.replace('flow-control 1-2 31', 'flow-control x 31')), 'malformed');
    expect(parseInnerLayer(hsdesc2Inner.replace('create2-formats 2', 'create2-formats 2 3')).create2Formats).toEqual([2, 3]);
  });

  it('no intro points is allowed; more than 20 are cut to 20', () => {
    expect(parseInnerLayer(innerHeader).introPoints).toEqual([]);
    expect(parseInnerLayer(innerHeader + oneIntroPoint.repeat(22)).introPoints).toHaveLength(20);
  });

  it('NUL padding and a missing final newline are accepted', () => {
    const padded = new Uint8Array(5000);
    padded.set(new TextEncoder().encode(hsdesc2Inner.slice(0, -1)));
    expect(parseInnerLayer(padded).introPoints).toHaveLength(3);
  });
});

describe('middle layer', () => {
  it('parses C tor\'s (no final newline) and re-encodes it byte for byte', () => {
    const m = parseMiddleLayer(hsdesc1Middle);
    expect(m.authClients).toHaveLength(16);
    expect(encodeMiddleLayer(m)).toBe(hsdesc1Middle);
  });

  it('refuses an unknown auth type, a missing item, bad field sizes', () => {
    expectProblem(() => parseMiddleLayer(hsdesc1Middle.replace('desc-auth-type x25519', 'desc-auth-type x448')), 'malformed');
    expectProblem(() => parseMiddleLayer(hsdesc1Middle.replace(/^desc-auth-ephemeral-key .*\n/m, '')), 'malformed');
    expectProblem(() => parseMiddleLayer(hsdesc1Middle.replace(/^auth-client .*\n/gm, '')), 'malformed');
    expectProblem(() => parseMiddleLayer(hsdesc1Middle.replace(/^(auth-client) \S+/m, '$1 AAAA')), 'malformed');
    expectProblem(() => parseMiddleLayer(hsdesc1Middle.replace('-----BEGIN MESSAGE-----', '-----BEGIN MASSAGE-----').replace('-----END MESSAGE-----', '-----END MASSAGE-----')), 'malformed');
  });
});

// ---------------------------------------------------------------------------------------------
// Properties.

const b = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });

const middleArb: fc.Arbitrary<MiddleLayer> = fc.record({
  authType: fc.constant('x25519'),
  ephemeralKey: b(32),
  authClients: fc.array(fc.record({ clientId: b(8), iv: b(16), encryptedCookie: fc.oneof(b(16), b(32)) }), { minLength: 1, maxLength: 20 }),
  encrypted: fc.uint8Array({ maxLength: 300 }),
});

const linkSpecArb = fc.oneof(
  fc.record({ type: fc.constant('ipv4' as const), address: b(4), port: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ type: fc.constant('ipv6' as const), address: b(16), port: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ type: fc.constant('legacy-id' as const), rsaIdentity: b(20) }),
  fc.record({ type: fc.constant('ed25519-id' as const), ed25519Identity: b(32) }),
  fc.record({ type: fc.constant('unrecognized' as const), code: fc.integer({ min: 4, max: 255 }), body: fc.uint8Array({ maxLength: 40 }) }),
);

const innerArb: fc.Arbitrary<InnerLayerInput> = fc.record({
  create2Formats: fc.uniqueArray(fc.integer({ min: 0, max: 0xffff }), { maxLength: 3 }).map((a) => [2, ...a.filter((x) => x !== 2)]),
  introAuthRequired: fc.option(fc.array(fc.stringMatching(/^[a-z0-9]{1,8}$/), { minLength: 1, maxLength: 3 }), { nil: undefined }),
  singleOnionService: fc.boolean(),
  flowControl: fc.option(fc.record({ versions: fc.constantFrom('1', '1-2', '1,3-4'), sendmeInc: fc.integer({ min: 0, max: 255 }) }), { nil: undefined }),
  powParams: fc.option(
    fc.tuple(b(32), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 4_000_000_000 })).map(([seed, suggestedEffort, s]) => [
      { type: 'v1' as const, seed, suggestedEffort, expires: new Date(s * 1000) },
    ]),
    { nil: undefined },
  ),
  introPoints: fc.array(
    fc.record({ linkSpecifiers: fc.array(linkSpecArb, { maxLength: 5 }), onionKey: b(32), authKey: b(32), encKey: b(32) }),
    { maxLength: 4 },
  ),
});

const signingSecret = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const signer = { signingKey: ed25519.getPublicKey(signingSecret), sign: (m: Uint8Array) => ed25519.sign(m, signingSecret), certExpires: new Date('2030-01-01T00:00:00Z') };

function mutate(text: string, cuts: readonly [number, number, string][]): string {
  let s = text;
  for (const [at, len, insert] of cuts) {
    const i = at % (s.length + 1);
    s = s.slice(0, i) + insert + s.slice(i + len);
  }
  return s;
}
const cutsArb = fc.array(
  fc.tuple(fc.nat(), fc.nat({ max: 40 }), fc.oneof(fc.constant(''), fc.string({ maxLength: 8 }), fc.constantFrom('\n', ' ', '-----BEGIN MESSAGE-----\n', 'introduction-point AA==\n', 'pow-params v1\n', '=', '\0'))),
  { minLength: 1, maxLength: 4 },
);

function onlyTyped(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof TelescopeError)) throw e;
  }
}

describe('descriptor parser properties', () => {
  it('decode(encode(middle)) = middle', () => {
    fc.assert(
      fc.property(middleArb, (m) => {
        const back = parseMiddleLayer(encodeMiddleLayer(m));
        expect(back).toEqual(m);
      }),
      { numRuns: 100 },
    );
  });

  it('decode(encode(inner)) = inner, certificates included', () => {
    fc.assert(
      fc.property(innerArb, (input) => {
        let text: string;
        try {
          text = encodeInnerLayer(input, signer);
        } catch (e) {
          // An enc-key with no Ed25519 form (u = -1) is refused when building; nothing else is.
          expect((e as Error).message).toMatch(/Ed25519 form/);
          return;
        }
        const back = parseInnerLayer(text);
        expect(back.create2Formats).toEqual(input.create2Formats);
        expect(back.introAuthRequired).toEqual(input.introAuthRequired);
        expect(back.singleOnionService).toBe(input.singleOnionService);
        expect(back.flowControl).toEqual(input.flowControl);
        expect(back.powParams).toEqual(input.powParams ?? []);
        expect(back.introPoints.map((ip) => ({ linkSpecifiers: ip.linkSpecifiers, onionKey: ip.onionKey, authKey: ip.authKey, encKey: ip.encKey }))).toEqual(input.introPoints);
      }),
      { numRuns: 60 },
    );
  });

  it('random text and bytes give typed errors only', () => {
    const parsers = [parseOuterDescriptor, parseMiddleLayer, parseInnerLayer];
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 })), (input) => {
        for (const p of parsers) onlyTyped(() => p(input));
      }),
      { numRuns: 300 },
    );
  });

  it('mutated real documents give typed errors only', () => {
    const opts = { blindedKey: fromHex(vectors.descriptors.hsdesc1.blinded_pubkey), subcredential: fromHex(vectors.descriptors.hsdesc1.subcredential), now: new Date('2023-01-24T03:00:00Z') };
    fc.assert(
      fc.property(cutsArb, (cuts) => {
        onlyTyped(() => parseInnerLayer(mutate(hsdesc2Inner, cuts)));
        onlyTyped(() => parseInnerLayer(mutate(powV1, cuts)));
        onlyTyped(() => parseMiddleLayer(mutate(hsdesc1Middle, cuts)));
        const doc = mutate(hsdesc1, cuts);
        try {
          decodeDescriptor(doc, opts);
        } catch (e) {
          expect(e).toBeInstanceOf(DescriptorError);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('unpadPlaintext strips only trailing NULs and ends in one newline', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 50 }), fc.nat({ max: 30 }), (body, pad) => {
        const out = unpadPlaintext(new Uint8Array([...body, ...new Uint8Array(pad)]));
        if (out.length > 0) expect(out[out.length - 1]).toBe(0x0a);
      }),
    );
  });
});
