import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tls from 'node:tls';
import { X509Certificate, createPublicKey } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../../shared/bytes/index.ts';
import { DerReader, DerTag, parseX509, x509RsaKey, x509SignedBy, x509ValidAt, OID_SHA256_WITH_RSA } from '../../shared/crypto/index.ts';
import { UsageError } from '../../shared/util/index.ts';
import { TlsTransport } from '../../node-platform/tls-transport.ts';
import { RelayKeys } from './keys.ts';
import { makeIdentityCert, makeTlsCredentials, makeTlsCredentialsAsync, randomTlsHostname, tlsServerOptions } from './tls-cert.ts';

const DAY = 86_400_000;
const keys = RelayKeys.generate();
const now = new Date();
const creds = makeTlsCredentials(keys.identity, { now });

function commonName(nameDer: Uint8Array): string {
  // Name ::= SEQUENCE { SET { SEQUENCE { OID, UTF8String } } }
  const attr = new DerReader(nameDer).enter(DerTag.SEQUENCE, 'name').enter(DerTag.SET, 'rdn').enter(DerTag.SEQUENCE, 'attr');
  expect(attr.oid()).toBe('2.5.4.3');
  return new TextDecoder().decode(attr.read(DerTag.UTF8_STRING).content);
}

describe('identity certificate (CERTS type 2)', () => {
  const id = parseX509(creds.identityCertDer);

  it('is the RSA-1024 identity key, self-signed with SHA-256, as tor 0.4.9 makes it', () => {
    expect(toHex(x509RsaKey(id).der)).toBe(toHex(keys.identity.publicDer));
    expect(id.signatureAlgorithm).toBe(OID_SHA256_WITH_RSA);
    expect(x509SignedBy(id, keys.identity.publicKey)).toBe(true);
    expect(toHex(id.issuer)).toBe(toHex(id.subject));
    expect(commonName(id.subject)).toMatch(/^www\.[a-z2-7]{8,20}\.com$/);
    expect(x509ValidAt(id, now)).toBe(true);
  });

  it('is an X.509 v3 certificate OpenSSL reads and verifies', () => {
    const x = new X509Certificate(Buffer.from(creds.identityCertDer));
    expect(x.subject).toBe(`CN=${commonName(id.subject)}`);
    expect(x.verify(createPublicKey(keys.identity.privateKey))).toBe(true);
    expect(x.checkIssued(x)).toBe(true);
  });

  it('can be made alone, with a chosen name', () => {
    const der = makeIdentityCert(keys.identity, { now, cn: 'www.example.com' });
    expect(commonName(parseX509(der).subject)).toBe('www.example.com');
    expect(x509SignedBy(parseX509(der), keys.identity.publicKey)).toBe(true);
  });
});

describe('TLS certificate', () => {
  const cert = parseX509(creds.certDer);

  it('certifies a fresh RSA-2048 link key, issued by the identity key under the identity certificate\'s name', () => {
    const linkKey = x509RsaKey(cert);
    expect(linkKey.bits).toBe(2048);
    expect(toHex(linkKey.der)).toBe(toHex(new Uint8Array(createPublicKey(creds.key).export({ type: 'pkcs1', format: 'der' }))));
    expect(x509SignedBy(cert, keys.identity.publicKey)).toBe(true);
    expect(toHex(cert.issuer)).toBe(toHex(parseX509(creds.identityCertDer).subject));
    expect(commonName(cert.subject)).toMatch(/^www\.[a-z2-7]{8,20}\.net$/);
    expect(toHex(creds.certDigest)).toBe(toHex(sha256(creds.certDer)));
    expect(new X509Certificate(Buffer.from(creds.certDer)).checkIssued(new X509Certificate(Buffer.from(creds.identityCertDer)))).toBe(true);
    expect(creds.certPem).toBe(new X509Certificate(Buffer.from(creds.certDer)).toString());
  });

  it('starts on a whole past day, runs a year, and leaves at least 30 days', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }), (t) => {
        const c = parseX509(makeIdentityCert(keys.identity, { now: t }));
        expect(c.notBefore.getTime() % DAY).toBe(0);
        expect(c.notBefore.getTime()).toBeLessThanOrEqual(t.getTime());
        expect(c.notAfter.getTime() - c.notBefore.getTime()).toBe(365 * DAY);
        expect(c.notAfter.getTime()).toBeGreaterThanOrEqual(t.getTime() + 30 * DAY);
      }),
      { numRuns: 40 },
    );
    expect(creds.notAfter.getTime()).toBeGreaterThanOrEqual(now.getTime() + 30 * DAY);
  });

  it('the async variant makes the same kind of credentials', async () => {
    const c = await makeTlsCredentialsAsync(keys.identity, { now });
    expect(x509RsaKey(parseX509(c.certDer)).bits).toBe(2048);
    expect(x509SignedBy(parseX509(c.certDer), keys.identity.publicKey)).toBe(true);
    expect(toHex(c.certDigest)).toBe(toHex(sha256(c.certDer)));
    await expect(makeTlsCredentialsAsync(keys.identity, { certLifetimeMs: DAY })).rejects.toThrow(UsageError);
  });

  it('refuses a lifetime too short to be useful', () => {
    expect(() => makeTlsCredentials(keys.identity, { certLifetimeMs: 10 * DAY, linkKeyBits: 1024 })).toThrow(UsageError);
  });

  it('random hostnames look like tor\'s', () => {
    for (let i = 0; i < 50; i++) {
      expect(randomTlsHostname('.net')).toMatch(/^www\.[a-z2-7]{8,20}\.net$/);
    }
  });

  it('node:tls serves it, and a TlsTransport client sees exactly this certificate', async () => {
    const server = tls.createServer({ ...tlsServerOptions(creds), minVersion: 'TLSv1.2' }, (socket) => {
      socket.on('data', (d) => socket.write(d));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const t = await TlsTransport.connect('127.0.0.1', port);
      expect(toHex(t.peerCertificate!)).toBe(toHex(creds.certDer));
      const echoed = new Promise<Uint8Array>((resolve) => {
        t.onData = resolve;
      });
      t.send(Uint8Array.of(1, 2, 3));
      expect([...(await echoed)]).toEqual([1, 2, 3]);
      t.close();

      // TLS 1.2 too (tor relays still accept it).
      const s12 = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
      await new Promise<void>((resolve, reject) => {
        s12.once('secureConnect', resolve);
        s12.once('error', reject);
      });
      expect(s12.getProtocol()).toBe('TLSv1.2');
      expect(toHex(new Uint8Array(s12.getPeerX509Certificate()!.raw))).toBe(toHex(creds.certDer));
      s12.destroy();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
