import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, equalBytes, fromBase64, toHex, utf8 } from '../../shared/bytes/index.ts';
import { CertType } from '../../shared/cells/index.ts';
import { CertKeyType, UnverifiedEd25519Cert, verifyEd25519, RsaPublicKey } from '../../shared/crypto/index.ts';
import { tokenize, type NetdocItem, parseMicrodescs, parseBridgeDescriptor, ProtocolList } from '../../shared/netdoc/index.ts';
import { readFileSync } from 'node:fs';
import { ExitPolicy, defaultExitPolicy, parseExitPolicy } from '../../shared/policy/index.ts';
import { TelescopeError, UsageError } from '../../shared/util/index.ts';
import { ed25519PublicFromCurve25519 } from './ed25519-signer.ts';
import { RelayKeys } from './keys.ts';
import {
  TELESCOPE_PLATFORM, TELESCOPE_RELAY_PROTOCOLS, buildMicrodescriptor, buildServerDescriptor, canonicalFamily, microdescriptorFor,
  type ServerDescriptorInput,
} from './descriptor.ts';
import artiDesc from './fixtures/arti-routerdesc1.txt?raw';
import torExitDesc from './fixtures/tor049-routerdesc-test007e.txt?raw';
import torMiddleDesc from './fixtures/tor049-routerdesc-test003r.txt?raw';
import torExitMd from './fixtures/tor049-microdesc-test007e.txt?raw';
import torMiddleMd from './fixtures/tor049-microdesc-test003r.txt?raw';

// ---------------------------------------------------------------------------------------------
// A small checker for router descriptors, written from dir-spec §2.1.1 (not a full parser): it
// verifies every signature and cross-certificate and reports the fields the tests compare.
// ---------------------------------------------------------------------------------------------

interface CheckedDescriptor {
  nickname: string;
  keywords: string[];
  fingerprint: string;
  ed25519Identity: Uint8Array;
  signingKey: Uint8Array;
  ntorOnionKey: Uint8Array;
  tapOnionKey: Uint8Array | undefined;
  policyLines: string[];
  published: Date;
  proto: string;
  family: string[];
}

function checkRouterDescriptor(text: string): CheckedDescriptor {
  const items = tokenize(text, { context: 'test descriptor' });
  const one = (k: string): NetdocItem => {
    const found = items.filter((i) => i.keyword === k);
    if (found.length !== 1) throw new Error(`expected one "${k}", found ${found.length}`);
    return found[0]!;
  };
  const maybe = (k: string) => items.find((i) => i.keyword === k);
  expect(items[0]!.keyword).toBe('router');
  expect(items[1]!.keyword).toBe('identity-ed25519');
  expect(items.at(-2)!.keyword).toBe('router-sig-ed25519');
  expect(items.at(-1)!.keyword).toBe('router-signature');

  const master = fromBase64(one('master-key-ed25519').args[0]!);
  const idCert = UnverifiedEd25519Cert.decode(one('identity-ed25519').object!.data);
  expect(idCert.unchecked.certType).toBe(CertType.IDENTITY_V_SIGNING);
  expect(toHex(idCert.unchecked.signingKeyFromExtension!)).toBe(toHex(master));
  const published = new Date(`${one('published').args.join('T')}Z`);
  const signing = idCert.check(master).checkValidAt(published);

  const rsa = RsaPublicKey.fromPkcs1Der(one('signing-key').object!.data);
  expect(rsa.bits).toBe(1024);
  expect(one('fingerprint').args.join('')).toBe(rsa.fingerprint());

  // router-sig-ed25519: SHA-256 of the prefix and the document through "router-sig-ed25519 ".
  const edSig = one('router-sig-ed25519');
  const edDigest = sha256(concatBytes(utf8('Tor router descriptor signature v1'), utf8(text.slice(0, edSig.start + 'router-sig-ed25519 '.length))));
  expect(verifyEd25519(fromBase64(edSig.args[0]!), edDigest, signing.certifiedKey)).toBe(true);
  // router-signature: SHA-1 of the document through "router-signature\n", PKCS#1 without DigestInfo.
  const rsaSig = one('router-signature');
  expect(rsa.verifyRawDigest(rsaSig.object!.data, sha1(utf8(text.slice(0, rsaSig.lineEnd + 1))))).toBe(true);

  // onion-key-crosscert: the TAP key's raw signature of SHA-1(identity) ‖ Ed25519 identity.
  const tapItem = maybe('onion-key');
  let tapOnionKey: Uint8Array | undefined;
  if (tapItem) {
    tapOnionKey = tapItem.object!.data;
    const payload = RsaPublicKey.fromPkcs1Der(tapOnionKey).recoverPayload(one('onion-key-crosscert').object!.data);
    expect(payload && toHex(payload)).toBe(toHex(concatBytes(rsa.identityDigest(), master)));
  } else {
    expect(maybe('onion-key-crosscert')).toBeUndefined();
  }

  // ntor-onion-key-crosscert: type 0x0A, certifying the master key, signed by the ntor key's Ed25519 form.
  const ntorOnionKey = fromBase64(one('ntor-onion-key').args[0]!);
  const cc = one('ntor-onion-key-crosscert');
  const bit = Number(cc.args[0]);
  expect(bit === 0 || bit === 1).toBe(true);
  const ccCert = UnverifiedEd25519Cert.decode(cc.object!.data);
  expect(ccCert.unchecked.certType).toBe(CertType.NTOR_CC_IDENTITY);
  expect(ccCert.unchecked.certKeyType).toBe(CertKeyType.ED25519);
  expect(toHex(ccCert.unchecked.certifiedKey)).toBe(toHex(master));
  ccCert.check(ed25519PublicFromCurve25519(ntorOnionKey, bit as 0 | 1)).checkValidAt(published);

  return {
    nickname: items[0]!.args[0]!,
    keywords: items.map((i) => i.keyword),
    fingerprint: rsa.fingerprint(),
    ed25519Identity: master,
    signingKey: signing.certifiedKey,
    ntorOnionKey,
    tapOnionKey,
    policyLines: items.filter((i) => ['accept', 'reject', 'accept6', 'reject6'].includes(i.keyword)).map((i) => `${i.keyword} ${i.rawArgs}`),
    published,
    proto: one('proto').rawArgs,
    family: maybe('family')?.args.slice() ?? [],
  };
}

/** Keywords with runs of accept/reject collapsed, for comparing item order. */
function shape(keywords: readonly string[]): string[] {
  return keywords.map((k) => (['accept', 'reject'].includes(k) ? 'POLICY' : k)).filter((k, i, a) => k !== 'POLICY' || a[i - 1] !== 'POLICY');
}

describe('the descriptor checker, on descriptors tor wrote', () => {
  it('accepts arti\'s routerdesc1 (tor 0.4.8.0-alpha-dev)', () => {
    const d = checkRouterDescriptor(artiDesc);
    expect(d.nickname).toBe('Akka');
    expect(d.fingerprint).toBe('56927E61B51E6F363FB55498150A6DDFCF7077F2');
    expect(d.policyLines).toEqual(['reject *:*']);
    expect(d.family).toEqual(['$303509AB910EF207B7438C27435C4A2FD579F1B1', '$56927E61B51E6F363FB55498150A6DDFCF7077F2']);
  });

  it('accepts two tor 0.4.9.11 descriptors, and rejects one with a flipped byte', () => {
    expect(checkRouterDescriptor(torExitDesc).policyLines).toEqual(['reject *:25', 'reject *:465', 'accept *:*']);
    expect(checkRouterDescriptor(torMiddleDesc).nickname).toBe('test003r');
    const tampered = torExitDesc.replace('uptime 142', 'uptime 143');
    expect(() => checkRouterDescriptor(tampered)).toThrow();
  });

  it('microdescriptorFor rebuilds, byte for byte, the microdescriptors tor 0.4.9 authorities made', () => {
    for (const [desc, md, m] of [
      [torExitDesc, torExitMd, 'CT8vdQxgrDGM3sKDJFvesZhKJ75a0cY90EhHyaU2OxQ'],
      [torMiddleDesc, torMiddleMd, 'aMUbelAW6zYU6odudezf6y2yfdkhIzYqJ0WoRcvj/Ec'],
    ] as const) {
      const d = checkRouterDescriptor(desc);
      const built = microdescriptorFor({
        tapOnionKey: d.tapOnionKey!,
        ntorOnionKey: d.ntorOnionKey,
        ed25519Identity: d.ed25519Identity,
        fingerprint: d.fingerprint,
        exitPolicy: parseExitPolicy(d.policyLines, { syntax: 'descriptor' }),
      });
      expect(built.text).toBe(md);
      expect(built.digestBase64).toBe(m);
    }
  });
});

const t0 = new Date('2026-11-25T23:03:21Z');
const keys = RelayKeys.generate({ now: t0 });
const exitInput: ServerDescriptorInput = {
  nickname: 'telescope1',
  address: '127.0.0.1',
  orPort: 34527,
  published: t0,
  uptimeSeconds: 142,
  bandwidth: { average: 1073741824, burst: 1073741824, observed: 542791 },
  exitPolicy: parseExitPolicy(['reject *:25', 'reject *:465', 'accept *:*'], { syntax: 'descriptor' }),
  contact: 'Telescope test network <telescope1@localhost>',
  hiddenServiceDir: true,
  tunnelledDirServer: true,
};

describe('buildServerDescriptor', () => {
  const desc = buildServerDescriptor(keys, exitInput);

  it('is signed and cross-certified the way tor checks it', () => {
    const d = checkRouterDescriptor(desc.text);
    expect(d.nickname).toBe('telescope1');
    expect(d.fingerprint).toBe(keys.fingerprint);
    expect(toHex(d.ed25519Identity)).toBe(toHex(keys.ed25519Identity));
    expect(toHex(d.signingKey)).toBe(toHex(keys.signing.signer.publicKey));
    expect(toHex(d.ntorOnionKey)).toBe(toHex(keys.ntorKey.public));
    expect(toHex(d.tapOnionKey!)).toBe(toHex(keys.tapOnionKey.publicDer));
    expect(d.policyLines).toEqual(['reject *:25', 'reject *:465', 'accept *:*']);
    expect(d.proto).toBe(TELESCOPE_RELAY_PROTOCOLS.toString());
    expect(d.published.getTime()).toBe(t0.getTime());
    expect(desc.digestHex).toBe(toHex(sha1(utf8(desc.text.slice(0, desc.text.indexOf('router-signature\n') + 'router-signature\n'.length)))).toUpperCase());
  });

  it('puts its items in the order tor 0.4.9 does', () => {
    const ours = shape(tokenize(desc.text).map((i) => i.keyword));
    // We publish no extra-info document.
    const tors = shape(tokenize(torExitDesc).map((i) => i.keyword)).filter((k) => k !== 'extra-info-digest');
    expect(ours).toEqual(tors);
    expect(desc.text).toContain(`platform ${TELESCOPE_PLATFORM}\n`);
    // What it is, and never "Tor ...": tor's authorities parse a version only from "Tor " platforms
    // (and reject old ones); any other platform is a nonstandard Tor judged by its proto line.
    expect(TELESCOPE_PLATFORM).toBe(`Telescope ${JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version} on Node.js ${process.version}`);
    expect(TELESCOPE_PLATFORM).not.toMatch(/^Tor /);
    expect(desc.text).toContain(`proto ${TELESCOPE_RELAY_PROTOCOLS.toString()}\n`);
    expect(desc.text).toMatch(/^router telescope1 127\.0\.0\.1 34527 0 0\n/);
    expect(desc.text).toContain(`fingerprint ${keys.fingerprint.match(/.{4}/g)!.join(' ')}\n`);
    expect(desc.text).toContain('published 2026-11-25 23:03:21\n');
    expect(desc.text).toContain('bandwidth 1073741824 1073741824 542791\n');
    expect(desc.text).not.toMatch(/ntor-onion-key [A-Za-z0-9+/]+=/);
  });

  it('the ntor crosscert lives as long as the onion key\'s rotation period', () => {
    const cc = UnverifiedEd25519Cert.decode(tokenize(desc.text).find((i) => i.keyword === 'ntor-onion-key-crosscert')!.object!.data);
    expect(cc.unchecked.expires.getTime()).toBe(t0.getTime() - (t0.getTime() % 3_600_000) + 3_600_000 + 28 * 86_400_000);
    expect(cc.unchecked.extensions).toEqual([]);
  });

  it('the core\'s bridge-descriptor reader takes it', () => {
    const b = parseBridgeDescriptor(desc.text);
    expect(b.fingerprint).toBe(keys.fingerprint);
    expect(toHex(b.ntorOnionKey)).toBe(toHex(keys.ntorKey.public));
    expect(toHex(b.ed25519Identity!)).toBe(toHex(keys.ed25519Identity));
  });

  it('without a TAP key, neither onion-key nor its crosscert appear', () => {
    const d = buildServerDescriptor(keys, { ...exitInput, includeTapOnionKey: false });
    const checked = checkRouterDescriptor(d.text);
    expect(checked.tapOnionKey).toBeUndefined();
    expect(checked.keywords).not.toContain('onion-key-crosscert');
  });

  it('publishes an IPv6 ORPort, an IPv6 exit summary, a DirPort and family', () => {
    const d = buildServerDescriptor(keys, {
      ...exitInput,
      dirPort: 9030,
      ipv6OrPort: { address: '2001:DB8:0:0:0:0:0:1', port: 9001 },
      exitPolicy: defaultExitPolicy({ ipv6Exit: true }),
      family: ['$303509AB910EF207B7438C27435C4A2FD579F1B1~other', 'friend'],
    });
    const checked = checkRouterDescriptor(d.text);
    expect(d.text).toMatch(/^router telescope1 127\.0\.0\.1 34527 0 9030\n/);
    expect(d.text).toContain('or-address [2001:db8::1]:9001\n');
    expect(d.text).toMatch(/\nipv6-policy reject 25,119,135-139,445,563,1214,4661-4666,6346-6429,6699,6881-6999\n/);
    expect(checked.family).toEqual(['$303509AB910EF207B7438C27435C4A2FD579F1B1~other', 'friend']);
    expect(checked.policyLines.every((l) => !l.includes('6 '))).toBe(true);
  });

  it('any valid input gives a descriptor that verifies; the core tokenizer reads it', () => {
    const input = fc.record({
      nickname: fc.stringMatching(/^[A-Za-z0-9]{1,19}$/),
      address: fc.ipV4(),
      orPort: fc.integer({ min: 1, max: 65535 }),
      dirPort: fc.integer({ min: 0, max: 65535 }),
      uptimeSeconds: fc.integer({ min: 0, max: 0x7fffffff }),
      average: fc.integer({ min: 0, max: 0x7fffffff }),
      contact: fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,60}[\x21-\x7e]$/),
      policy: fc.constantFrom('reject *:*', 'accept *:80,reject *:*', 'accept *:*'),
      hsdir: fc.boolean(),
    });
    fc.assert(
      fc.property(input, (i) => {
        const d = buildServerDescriptor(keys, {
          nickname: i.nickname,
          address: i.address,
          orPort: i.orPort,
          dirPort: i.dirPort,
          published: t0,
          uptimeSeconds: i.uptimeSeconds,
          bandwidth: { average: i.average, burst: i.average, observed: i.average },
          exitPolicy: parseExitPolicy(i.policy.split(','), { syntax: 'descriptor' }),
          contact: i.contact,
          hiddenServiceDir: i.hsdir,
        });
        const c = checkRouterDescriptor(d.text);
        expect(c.nickname).toBe(i.nickname);
        expect(d.text).toContain(`\ncontact ${i.contact}\n`);
      }),
      { numRuns: 25 },
    );
  });

  it('refuses input tor would not publish, with a UsageError', () => {
    const bad: Partial<ServerDescriptorInput>[] = [
      { nickname: 'has space' },
      { nickname: 'abcdefghijklmnopqrst' },
      { address: '::1' },
      { address: '300.1.1.1' },
      { orPort: 0 },
      { dirPort: 70000 },
      { uptimeSeconds: -1 },
      { bandwidth: { average: 1.5, burst: 1, observed: 1 } },
      { contact: 'two\nlines' },
      { contact: 'naïve' },
      { platform: 'x\ty' },
      { protocols: ProtocolList.EMPTY },
      { family: ['$ABC'] },
      { ipv6OrPort: { address: '10.0.0.1', port: 1 } },
      { published: new Date(NaN) },
    ];
    for (const b of bad) expect(() => buildServerDescriptor(keys, { ...exitInput, ...b }), JSON.stringify(b)).toThrow(UsageError);
  });

  it('arbitrary strings as nickname, address or contact give a descriptor or a typed error', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 25 }), fc.string({ maxLength: 20 }), fc.string({ maxLength: 30 }), (nickname, address, contact) => {
        try {
          checkRouterDescriptor(buildServerDescriptor(keys, { ...exitInput, nickname, address, contact }).text);
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
      { numRuns: 50 },
    );
  });
});

describe('buildMicrodescriptor', () => {
  it('matches what the core parses, with the summary clients will see', () => {
    const md = buildMicrodescriptor(keys, exitInput);
    const [parsed] = parseMicrodescs(md.text);
    expect(parsed!.text).toBe(md.text);
    expect(parsed!.digestBase64).toBe(md.digestBase64);
    expect(toHex(parsed!.ntorOnionKey)).toBe(toHex(keys.ntorKey.public));
    expect(toHex(parsed!.ed25519Id!)).toBe(toHex(keys.ed25519Identity));
    expect(parsed!.policySummary).toBe('reject 25,465');
    expect(parsed!.rsaId).toBeUndefined();
    expect(md.text.startsWith('onion-key\n-----BEGIN RSA PUBLIC KEY-----\n')).toBe(true);
    expect(equalBytes(md.digest, sha256(utf8(md.text)))).toBe(true);
  });

  it('a non-exit has no "p" line; without TAP the onion-key item stands alone', () => {
    const md = buildMicrodescriptor(keys, { exitPolicy: new ExitPolicy([]), includeTapOnionKey: false });
    expect(md.text).toBe(`onion-key\nntor-onion-key ${Buffer.from(keys.ntorKey.public).toString('base64').replace(/=+$/, '')}\nid ed25519 ${Buffer.from(keys.ed25519Identity).toString('base64').replace(/=+$/, '')}\n`);
    expect(parseMicrodescs(md.text)[0]!.policySummary).toBe('reject 1-65535');
  });

  it('canonicalizes the family as dir-spec §3.3 says', () => {
    const fp = keys.fingerprint;
    expect(canonicalFamily([], fp)).toEqual([]);
    expect(canonicalFamily(['Bob', '$303509ab910ef207b7438c27435c4a2fd579f1b1=bob', '$1234', 'alice', 'bob'], fp)).toEqual(
      [`$303509AB910EF207B7438C27435C4A2FD579F1B1`, `$${fp}`, 'alice', 'bob'].sort(),
    );
    const md = buildMicrodescriptor(keys, { exitPolicy: exitInput.exitPolicy, family: ['Friend'] });
    expect(md.text).toContain(`\nfamily $${fp} friend\n`);
    expect(parseMicrodescs(md.text)[0]!.family).toEqual([`$${fp}`, 'friend']);
  });
});
