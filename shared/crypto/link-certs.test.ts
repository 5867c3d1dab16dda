import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromBase64, fromHex, toHex } from '../bytes/index.ts';
import { CertificateError, ProtocolError } from '../util/index.ts';
import { CertsCell, CertType } from '../cells/index.ts';
import { verifyResponderCerts } from './link-certs.ts';
import { CertKeyType, UnverifiedEd25519Cert, signEd25519Cert } from './ed25519-cert.ts';
import { RsaPublicKey } from './rsa.ts';
import { RsaCrossCert } from './rsa-crosscert.ts';
import { parseX509, x509RsaKey, x509SignedBy } from './x509.ts';
import { DerReader } from './der.ts';
import vec from './fixtures/certs.json';

const cell = CertsCell.decode(fromHex(vec.certs_cell_body_hex));
const now = new Date(vec.channel_verification_time);
const d = vec.derived;
const tlsCert = cell.ofType(CertType.TLS_LINK_X509)[0]!.body;
const expected = { rsaIdentity: fromHex(d.rsa_identity_fingerprint_sha1_of_pkcs1_der), ed25519Identity: fromHex(d.ed25519_identity) };

/** The cell with the certificate of `type` replaced by `body` (or removed, or duplicated). */
function withCert(type: number, change: (body: Uint8Array) => Uint8Array[] ): CertsCell {
  return new CertsCell(cell.certs.flatMap((c) => (c.type === type ? change(c.body).map((body) => ({ type, body })) : [c])));
}

function flipByte(body: Uint8Array, index: number): Uint8Array {
  const b = body.slice();
  b[index]! ^= 0x01;
  return b;
}

describe('CERTS cell from a real relay', () => {
  it('verifies, yielding the relay\'s identities and the TLS certificate digest', () => {
    const id = verifyResponderCerts({ certs: cell, now, expected, peerTlsCertificate: tlsCert });
    expect(id.fingerprint).toBe(d.rsa_identity_fingerprint_sha1_of_pkcs1_der);
    expect(toHex(id.rsaKey.der)).toBe(d.rsa_identity_pubkey_pkcs1_der);
    expect(toHex(id.ed25519Identity)).toBe(d.ed25519_identity);
    expect(toHex(id.signingKey)).toBe(d.ed25519_signing_key);
    expect(toHex(id.tlsCertDigest)).toBe(d.type5_certified_tls_cert_sha256);
    expect(id.tlsCertChecked).toBe(true);
    expect(id.expires.toISOString()).toBe('2020-09-28T18:00:00.000Z');
  });

  it('verifies without the TLS certificate (a WebSocket transport), saying it did not check it', () => {
    const id = verifyResponderCerts({ certs: cell, now });
    expect(id.tlsCertChecked).toBe(false);
  });

  it('exposes the parsed pieces: expiry dates and the cross-certificate', () => {
    const t4 = UnverifiedEd25519Cert.decode(cell.ofType(4)[0]!.body);
    expect(t4.unchecked.expires.toISOString()).toBe(new Date(d.type4_expires).toISOString());
    expect(toHex(t4.encode())).toBe(toHex(cell.ofType(4)[0]!.body));
    const cross = RsaCrossCert.decode(cell.ofType(7)[0]!.body);
    expect(cross.expirationHours).toBe(d.crosscert_expiration_hours);
    const idCert = parseX509(cell.ofType(2)[0]!.body);
    expect(x509SignedBy(idCert, x509RsaKey(idCert))).toBe(true);
    // The link certificate (type 1) is signed by the identity key too.
    expect(x509SignedBy(parseX509(tlsCert), x509RsaKey(idCert))).toBe(true);
  });

  it('rejects a flipped byte in the signature of any of certificates 2, 4, 5, 7', () => {
    for (const type of [2, 4, 5, 7]) {
      const body = cell.ofType(type)[0]!.body;
      for (const back of [1, 7, 30]) {
        const bad = withCert(type, (b) => [flipByte(b, body.length - back)]);
        expect(() => verifyResponderCerts({ certs: bad, now, expected, peerTlsCertificate: tlsCert }), `type ${type}, byte -${back}`).toThrow(CertificateError);
      }
    }
  });

  it('rejects a flipped byte anywhere in the signed part of certificates 4, 5, 7', () => {
    for (const type of [4, 5, 7]) {
      const body = cell.ofType(type)[0]!.body;
      fc.assert(
        fc.property(fc.integer({ min: 0, max: body.length - 1 }), (i) => {
          const bad = withCert(type, (b) => [flipByte(b, i)]);
          expect(() => verifyResponderCerts({ certs: bad, now, expected, peerTlsCertificate: tlsCert })).toThrow(CertificateError);
        }),
        { numRuns: 40 },
      );
    }
  });

  it('rejects a different TLS certificate', () => {
    expect(() => verifyResponderCerts({ certs: cell, now, peerTlsCertificate: flipByte(tlsCert, 100) })).toThrow(/different TLS certificate/);
  });

  it('rejects expired certificates', () => {
    expect(() => verifyResponderCerts({ certs: cell, now: new Date('2020-09-28T18:00:01Z') })).toThrow(/expired/);
    expect(() => verifyResponderCerts({ certs: cell, now: new Date('2019-01-01T00:00:00Z') })).toThrow(/not valid at/);
  });

  it('rejects an unexpected identity', () => {
    expect(() => verifyResponderCerts({ certs: cell, now, expected: { rsaIdentity: new Uint8Array(20) } })).toThrow(/not the expected/);
    expect(() => verifyResponderCerts({ certs: cell, now, expected: { ed25519Identity: new Uint8Array(32) } })).toThrow(/not the expected/);
  });

  it('rejects missing and duplicated certificates', () => {
    for (const type of [2, 4, 5, 7]) {
      expect(() => verifyResponderCerts({ certs: withCert(type, () => []), now })).toThrow(/exactly one/);
      expect(() => verifyResponderCerts({ certs: withCert(type, (b) => [b, b]), now })).toThrow(/more than one/);
    }
  });

  it('rejects swapped certificates (type 4 body in the type 5 slot)', () => {
    const t4 = cell.ofType(4)[0]!.body;
    expect(() => verifyResponderCerts({ certs: withCert(5, () => [t4]), now })).toThrow(CertificateError);
  });
});

describe('Ed25519 certificates', () => {
  it('the testdata2 signing certificate verifies with its identity and expires when stated', () => {
    const file = fromHex(vec.testdata2_signing_cert.file_hex);
    const cert = UnverifiedEd25519Cert.decode(file.subarray(32));
    const identity = fromBase64(vec.testdata2_signing_cert.identity_b64);
    const checked = cert.check(identity);
    expect(toHex(checked.dangerouslyAssumeTimely().certifiedKey)).toBe(vec.testdata2_signing_cert.signing_key);
    expect(checked.notAfter?.toISOString()).toBe(new Date(vec.testdata2_signing_cert.expires).toISOString());
    expect(() => checked.checkValidAt(new Date('2001-01-01T00:00:00Z'))).toThrow(/expired/);
    expect(() => cert.check(new Uint8Array(32).fill(9))).toThrow(CertificateError);
  });

  it('sign, encode, decode and verify round-trip; unknown critical extensions are refused', () => {
    const secret = ed25519.utils.randomSecretKey();
    const pub = ed25519.getPublicKey(secret);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(fc.record({ type: fc.integer({ min: 5, max: 255 }), flags: fc.constant(0), data: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 3 }),
        (certType, expirationHours, certifiedKey, extensions) => {
          const cert = signEd25519Cert({ certType, expirationHours, certKeyType: CertKeyType.ED25519, certifiedKey, extensions }, secret, { includeSignerKey: true });
          const back = UnverifiedEd25519Cert.decode(cert.encode());
          expect(back.unchecked).toEqual(cert);
          expect(back.check().dangerouslyAssumeTimely().signedBy).toEqual(pub);
        }),
      { numRuns: 30 },
    );
    const critical = signEd25519Cert({ certType: 4, expirationHours: 1e6, certKeyType: 1, certifiedKey: pub, extensions: [{ type: 77, flags: 1, data: new Uint8Array(2) }] }, secret, { includeSignerKey: true });
    expect(() => new UnverifiedEd25519Cert(critical).check()).toThrow(/unknown extension/);
  });
});

describe('parsers never throw anything but typed errors', () => {
  const typed = (e: unknown) => e instanceof ProtocolError || e instanceof CertificateError;

  it('random and mutated bytes into every certificate decoder', () => {
    const bodies = cell.certs.map((c) => c.body);
    fc.assert(
      fc.property(fc.oneof(
        fc.uint8Array({ maxLength: 700 }),
        fc.tuple(fc.constantFrom(...bodies), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat()).map(([b, i, v, cut]) => {
          const m = b.slice();
          m[i % m.length] = v;
          return m.subarray(0, Math.max(1, cut % (m.length + 1)));
        }),
      ), (bytes) => {
        for (const decode of [
          () => UnverifiedEd25519Cert.decode(bytes),
          () => RsaCrossCert.decode(bytes),
          () => parseX509(bytes),
          () => RsaPublicKey.fromPkcs1Der(bytes),
          () => new DerReader(bytes).read(),
        ]) {
          try {
            decode();
          } catch (e) {
            expect(typed(e), String(e)).toBe(true);
          }
        }
      }),
      { numRuns: 800 },
    );
  });

  it('the RSA key re-encodes from its components', () => {
    const key = RsaPublicKey.fromPkcs1Der(fromHex(d.rsa_identity_pubkey_pkcs1_der));
    expect(key.bits).toBe(1024);
    expect(toHex(RsaPublicKey.fromComponents(key.modulus, key.exponent).der)).toBe(d.rsa_identity_pubkey_pkcs1_der);
  });
});
