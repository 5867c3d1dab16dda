import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { fromBase64, toHex } from '../../shared/bytes/index.ts';
import { CertType } from '../../shared/cells/index.ts';
import { CertKeyType, RsaCrossCert, UnverifiedEd25519Cert } from '../../shared/crypto/index.ts';
import { ProtocolError, TelescopeError, UsageError } from '../../shared/util/index.ts';
import { DEFAULT_KEY_POLICY, KeyFile, RelayKeys, RsaKey } from './keys.ts';
import { decodeRsaPrivateKeyPem, decodeTagged, encodeTagged } from '../../node-platform/key-files.ts';

const DAY = 86_400_000;
const t0 = new Date('2026-01-01T00:00:00Z');
const later = (ms: number) => new Date(t0.getTime() + ms);

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'telescope-keys-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('RelayKeys in memory', () => {
  const keys = RelayKeys.generate({ now: t0 });

  it('names the relay by the SHA-1 of its RSA-1024 identity key', () => {
    expect(keys.identity.publicKey.bits).toBe(1024);
    expect(keys.identity.publicKey.exponent).toBe(65537n);
    expect(keys.fingerprint).toBe(toHex(sha1(keys.identity.publicDer)).toUpperCase());
    expect(toHex(keys.rsaIdentityDigest)).toBe(keys.fingerprint.toLowerCase());
    expect(keys.ed25519Identity).toHaveLength(32);
  });

  it('certifies its signing key with the master identity for 30 days (type 4, signed-with extension)', () => {
    const c = keys.signing.cert;
    expect(c.certType).toBe(CertType.IDENTITY_V_SIGNING);
    expect(c.certKeyType).toBe(CertKeyType.ED25519);
    expect(toHex(c.signingKeyFromExtension!)).toBe(toHex(keys.ed25519Identity));
    const valid = new UnverifiedEd25519Cert(c).check(keys.ed25519Identity).checkValidAt(later(30 * DAY - 1000));
    expect(toHex(valid.certifiedKey)).toBe(toHex(keys.signing.signer.publicKey));
    expect(keys.signing.expires.getTime()).toBe(t0.getTime() + 30 * DAY);
  });

  it('has one ntor key, clamped as tor stores it, in the shape ntorServerHandshake wants', () => {
    expect(keys.ntorKeys).toHaveLength(1);
    const k = keys.ntorKeys[0]!;
    expect(toHex(x25519.getPublicKey(k.secret))).toBe(toHex(k.public));
    expect(k.secret[0]! & 7).toBe(0);
    expect(k.secret[31]! >> 6).toBe(1);
    expect(keys.tapOnionKey.publicKey.bits).toBe(1024);
  });

  it('signs raw digests (dir-spec) and SHA-256 PKCS#1 (X.509) so that the core verifies them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        expect(keys.identity.publicKey.verifyRawDigest(keys.identity.signRawDigest(sha1(data)), sha1(data))).toBe(true);
        expect(keys.identity.publicKey.verifyPkcs1(keys.identity.signSha256(data), 'sha256', sha256(data))).toBe(true);
      }),
      { numRuns: 10 },
    );
  });

  it('cross-certifies the Ed25519 identity with the RSA identity for 180 days (CERTS type 7)', () => {
    const body = keys.rsaCrossCert(t0);
    const cc = RsaCrossCert.decode(body);
    expect(toHex(cc.verify(keys.identity.publicKey, later(179 * DAY)))).toBe(toHex(keys.ed25519Identity));
    expect(cc.expires.getTime()).toBe(t0.getTime() + 180 * DAY);
    // Reused while more than half of its life remains, then remade.
    expect(keys.rsaCrossCert(later(80 * DAY))).toBe(body);
    const renewed = RsaCrossCert.decode(keys.rsaCrossCert(later(91 * DAY)));
    expect(renewed.expires.getTime()).toBe(later(271 * DAY).getTime());
  });

  it('schedules its next maintenance at the earliest renewal', () => {
    expect(keys.nextMaintenance().getTime()).toBe(t0.getTime() + 28 * DAY);
    const short = RelayKeys.generate({ now: t0, policy: { signingKeyLifetimeMs: 5 * DAY } });
    expect(short.nextMaintenance().getTime()).toBe(t0.getTime() + 4 * DAY);
  });

  it('RsaKey wants an RSA private key', () => {
    expect(() => new RsaKey(createPublicKey(keys.identity.privateKey))).toThrow(UsageError);
    expect(() => new RsaKey(generateKeyPairSync('ed25519').privateKey)).toThrow(UsageError);
  });
});

describe('RelayKeys on disk', () => {
  it('creates tor-format files with mode 0600 in a 0700 keys folder, and loads the same keys back', async () => {
    const dd = await tempDir();
    const a = await RelayKeys.loadOrCreate(dd, { now: t0 });
    expect((await stat(join(dd, 'keys'))).mode & 0o777).toBe(0o700);
    for (const f of [KeyFile.RSA_IDENTITY, KeyFile.TAP_ONION, KeyFile.ED_MASTER_SECRET, KeyFile.ED_MASTER_PUBLIC, KeyFile.ED_SIGNING_SECRET, KeyFile.ED_SIGNING_CERT, KeyFile.NTOR]) {
      expect((await stat(join(dd, 'keys', f))).mode & 0o777, f).toBe(0o600);
    }
    expect(existsSync(join(dd, 'keys', KeyFile.NTOR_OLD))).toBe(false);
    expect((await readFile(join(dd, 'keys', KeyFile.RSA_IDENTITY), 'utf8')).startsWith('-----BEGIN RSA PRIVATE KEY-----\n')).toBe(true);
    const pub = decodeTagged(new Uint8Array(await readFile(join(dd, 'keys', KeyFile.ED_MASTER_PUBLIC))), 'x', 'ed25519v1-public', 'type0', 32);
    expect(toHex(pub)).toBe(toHex(a.ed25519Identity));

    const b = await RelayKeys.loadOrCreate(dd, { now: later(DAY) });
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(toHex(b.ed25519Identity)).toBe(toHex(a.ed25519Identity));
    expect(toHex(b.signing.signer.publicKey)).toBe(toHex(a.signing.signer.publicKey));
    expect(toHex(b.signing.cert.encode())).toBe(toHex(a.signing.cert.encode()));
    expect(b.ntorKeys.map((k) => toHex(k.public))).toEqual(a.ntorKeys.map((k) => toHex(k.public)));
    expect(b.ntorKeyCreated.getTime()).toBe(t0.getTime());
    expect(toHex(b.tapOnionKey.publicDer)).toBe(toHex(a.tapOnionKey.publicDer));
  });

  it('rotates the onion keys after 28 days, keeps the previous ntor key 7 more days, across restarts', async () => {
    const dd = await tempDir();
    const a = await RelayKeys.loadOrCreate(dd, { now: t0 });
    const first = a.ntorKey;
    const tap = toHex(a.tapOnionKey.publicDer);
    expect(await a.maintain(later(28 * DAY - 1000))).toEqual({ signingKeyRenewed: false, onionKeyRotated: false, previousOnionKeyDropped: false });
    expect(await a.maintain(later(28 * DAY))).toEqual({ signingKeyRenewed: false, onionKeyRotated: true, previousOnionKeyDropped: false });
    expect(a.ntorKeys).toHaveLength(2);
    expect(toHex(a.ntorKeys[1]!.public)).toBe(toHex(first.public));
    expect(toHex(a.ntorKey.public)).not.toBe(toHex(first.public));
    expect(toHex(a.tapOnionKey.publicDer)).not.toBe(tap);

    // A restart inside the grace period still knows both keys.
    const b = await RelayKeys.loadOrCreate(dd, { now: later(28.5 * DAY) });
    expect(b.ntorKeys.map((k) => toHex(k.public))).toEqual(a.ntorKeys.map((k) => toHex(k.public)));
    expect(b.ntorKeyCreated.getTime()).toBe(later(28 * DAY).getTime());

    // The signing key (30 days) is renewed a day before it expires.
    const r = await b.maintain(later(35 * DAY));
    expect(r).toEqual({ signingKeyRenewed: true, onionKeyRotated: false, previousOnionKeyDropped: true });
    expect(b.ntorKeys).toHaveLength(1);
    expect(existsSync(join(dd, 'keys', KeyFile.NTOR_OLD))).toBe(false);
    expect(b.signing.expires.getTime()).toBe(later(65 * DAY).getTime());
    new UnverifiedEd25519Cert(b.signing.cert).check(b.ed25519Identity).checkValidAt(later(64 * DAY));

    // A restart long after everything expired renews it all at once.
    const c = await RelayKeys.loadOrCreate(dd, { now: later(400 * DAY) });
    expect(c.fingerprint).toBe(a.fingerprint);
    expect(c.signing.expires.getTime()).toBe(later(430 * DAY).getTime());
    expect(c.ntorKeyCreated.getTime()).toBe(later(400 * DAY).getTime());
  });

  it('remakes a signing key whose certificate is from another master key', async () => {
    const dd = await tempDir();
    const a = await RelayKeys.loadOrCreate(dd, { now: t0 });
    const other = RelayKeys.generate({ now: t0 });
    await writeFile(join(dd, 'keys', KeyFile.ED_SIGNING_CERT), encodeTagged('ed25519v1-cert', 'type4', other.signing.cert.encode()));
    const b = await RelayKeys.loadOrCreate(dd, { now: later(1000) });
    expect(toHex(b.signing.signer.publicKey)).not.toBe(toHex(a.signing.signer.publicKey));
    new UnverifiedEd25519Cert(b.signing.cert).check(b.ed25519Identity);
  });

  it('refuses damaged or foreign key files with a typed error', async () => {
    const dd = await tempDir();
    await RelayKeys.loadOrCreate(dd, { now: t0 });
    const ntor = await readFile(join(dd, 'keys', KeyFile.NTOR));
    const damaged = Buffer.from(ntor);
    damaged[70]! ^= 1; // in the public half
    await writeFile(join(dd, 'keys', KeyFile.NTOR), damaged);
    await expect(RelayKeys.loadOrCreate(dd, { now: t0 })).rejects.toThrow(ProtocolError);
    await writeFile(join(dd, 'keys', KeyFile.NTOR), ntor);
    await writeFile(join(dd, 'keys', KeyFile.RSA_IDENTITY), 'not a key');
    await expect(RelayKeys.loadOrCreate(dd, { now: t0 })).rejects.toThrow(ProtocolError);

    const dd2 = await tempDir();
    await RelayKeys.loadOrCreate(dd2, { now: t0 });
    await rm(join(dd2, 'keys', KeyFile.ED_MASTER_SECRET));
    await expect(RelayKeys.loadOrCreate(dd2, { now: t0 })).rejects.toThrow(UsageError);

    const dd3 = await tempDir();
    await RelayKeys.loadOrCreate(dd3, { now: t0 });
    await writeFile(join(dd3, 'keys', KeyFile.RSA_IDENTITY), RsaKey.generate(2048).privateKey.export({ type: 'pkcs1', format: 'pem' }));
    await expect(RelayKeys.loadOrCreate(dd3, { now: t0 })).rejects.toThrow(ProtocolError);
  });

  it('tagged files: any header or body damage is a typed error', () => {
    const good = encodeTagged('c25519v1', 'onion', new Uint8Array(64));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.nat(), fc.nat({ max: 255 }), (junk, at, xor) => {
        const mutated = good.slice();
        if (xor !== 0) mutated[at % mutated.length]! ^= xor;
        for (const input of [junk, mutated]) {
          try {
            decodeTagged(input, 'f', 'c25519v1', 'onion', 64);
          } catch (e) {
            expect(e).toBeInstanceOf(TelescopeError);
          }
        }
      }),
    );
    expect(toHex(decodeTagged(good, 'f', 'c25519v1', 'onion', 64))).toBe(toHex(new Uint8Array(64)));
  });

  it('tagged files round-trip any body', () => {
    fc.assert(
      fc.property(fc.constantFrom(['ed25519v1-secret', 'type0'], ['ed25519v1-cert', 'type4'], ['c25519v1', 'onion']), fc.uint8Array({ maxLength: 200 }), ([type, tag], body) => {
        expect(toHex(decodeTagged(encodeTagged(type!, tag!, body), 'f', type!, tag!))).toBe(toHex(body));
      }),
    );
    expect(() => encodeTagged('a-very-long-type-name-here', 'and-a-tag', new Uint8Array())).toThrow(UsageError);
  });

  it('PEM key files: random bytes are a typed error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 300 }).map((s) => new TextEncoder().encode(`-----BEGIN RSA PRIVATE KEY-----\n${s}\n-----END RSA PRIVATE KEY-----\n`))), (bytes) => {
        expect(() => decodeRsaPrivateKeyPem(bytes, 'f')).toThrow(ProtocolError);
      }),
      { numRuns: 50 },
    );
    const ed = new TextEncoder().encode(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    expect(() => decodeRsaPrivateKeyPem(ed, 'f')).toThrow(/not RSA/);
  });

  it('has tor\'s default lifetimes', () => {
    expect(DEFAULT_KEY_POLICY).toEqual({ onionKeyRotationMs: 28 * DAY, onionKeyGraceMs: 7 * DAY, signingKeyLifetimeMs: 30 * DAY, signingKeyRenewMs: DAY, rsaCrossCertLifetimeMs: 180 * DAY });
  });
});

// tor itself: `tor --list-fingerprint` makes (or loads) a relay's keys and prints its identities,
// without any network. Our files must be tor's and tor's ours. The torrc names a dummy local
// authority so that tor never considers the public network.
const TOR = '/usr/bin/tor';
function torFingerprints(dataDirectory: string): { rsa: string; ed: string } {
  const torrc = join(dataDirectory, 'torrc');
  const conf = [
    `DataDirectory ${dataDirectory}`,
    'ORPort 127.0.0.1:1',
    'SocksPort 0',
    'DirAuthority dummy orport=2 no-v2 v3ident=A62742E83DC834CEAEBDB2F574C2D566EA227E89 127.0.0.1:3 6814FE8EB1ACEE6A2D94EA5E08D55814096092EC',
    'Log err stderr',
  ].join('\n');
  writeFileSync(torrc, `${conf}\n`);
  execFileSync(TOR, ['-f', torrc, '--list-fingerprint'], { timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  // "Unnamed 5A6B…" / "Unnamed GULs…"
  const read = (f: string) => readFileSync(join(dataDirectory, f), 'utf8').trim().split(' ').slice(1).join('');
  return { rsa: read('fingerprint'), ed: read('fingerprint-ed25519') };
}

describe.skipIf(!existsSync(TOR))('key files shared with tor 0.4.9', () => {
  it('loads the keys tor makes', async () => {
    const dd = await tempDir();
    const fromTor = torFingerprints(dd);
    const keys = await RelayKeys.loadOrCreate(dd, { now: new Date() });
    expect(keys.fingerprint).toBe(fromTor.rsa);
    expect(toHex(keys.ed25519Identity)).toBe(toHex(fromBase64(fromTor.ed)));
    new UnverifiedEd25519Cert(keys.signing.cert).check(keys.ed25519Identity).checkValidAt(new Date());
  });

  it('tor loads the keys Telescope makes', async () => {
    const dd = await tempDir();
    const keys = await RelayKeys.loadOrCreate(dd, { now: new Date() });
    const before = await readFile(join(dd, 'keys', KeyFile.ED_SIGNING_CERT));
    const fromTor = torFingerprints(dd);
    expect(fromTor.rsa).toBe(keys.fingerprint);
    expect(toHex(fromBase64(fromTor.ed))).toBe(toHex(keys.ed25519Identity));
    // tor kept our signing key and onion keys rather than replacing them.
    expect(toHex(new Uint8Array(await readFile(join(dd, 'keys', KeyFile.ED_SIGNING_CERT))))).toBe(toHex(new Uint8Array(before)));
    const again = await RelayKeys.loadOrCreate(dd, { now: new Date() });
    expect(toHex(again.ntorKey.public)).toBe(toHex(keys.ntorKey.public));
  });
});
