import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../../shared/bytes/index.ts';
import { CertsCell, CertType, AuthMethod, Authenticate } from '../../shared/cells/index.ts';
import {
  CertKeyType, UnverifiedEd25519Cert, verifyEd25519, verifyResponderCerts, RsaCrossCert,
  checkRelayIdentityKey, parseX509, x509RsaKey, x509SignedBy, x509ValidAt,
} from '../../shared/crypto/index.ts';
import { CertificateError, HandshakeError, TelescopeError, UsageError } from '../../shared/util/index.ts';
import { RelayKeys } from './keys.ts';
import { makeTlsCredentials, tlsServerOptions } from './tls-cert.ts';
import {
  AUTH0003_EXPORTER_LABEL, AUTH0003_SIGNED_LEN, LinkCertificates, authIdentityDigest, buildAuthenticate, checkAuthenticate,
  exportAuthTlsSecrets, type Auth0003Fields,
} from './certs-cell.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const t0 = new Date();
const at = (ms: number) => new Date(t0.getTime() + ms);
const keys = RelayKeys.generate({ now: t0 });
const tlsCreds = makeTlsCredentials(keys.identity, { now: t0 });
const expected = { rsaIdentity: keys.rsaIdentityDigest, ed25519Identity: keys.ed25519Identity };

function roundTrip(cell: CertsCell): CertsCell {
  return CertsCell.decode(cell.encode());
}

describe('responder CERTS cell', () => {
  const link = new LinkCertificates(keys, tlsCreds);
  const cell = roundTrip(link.responderCerts(t0));

  it('carries types 1, 2, 4, 5, 7 in tor\'s order', () => {
    expect(cell.certs.map((c) => c.type)).toEqual([1, 2, 4, 5, 7]);
  });

  it('is accepted by the core\'s client check, bound to this TLS certificate', () => {
    const id = verifyResponderCerts({ certs: cell, now: t0, expected, peerTlsCertificate: tlsCreds.certDer });
    expect(id.fingerprint).toBe(keys.fingerprint);
    expect(toHex(id.ed25519Identity)).toBe(toHex(keys.ed25519Identity));
    expect(toHex(id.signingKey)).toBe(toHex(keys.signing.signer.publicKey));
    expect(toHex(id.tlsCertDigest)).toBe(toHex(sha256(tlsCreds.certDer)));
    expect(id.tlsCertChecked).toBe(true);
    // The earliest expiry is the two-day type-5 certificate.
    expect(id.expires.getTime()).toBe(Math.ceil((t0.getTime() + 2 * DAY) / HOUR) * HOUR);
  });

  it('type 1 is the TLS certificate, issued by the RSA identity (the RSA-only check a legacy client makes)', () => {
    const link1 = parseX509(cell.ofType(CertType.TLS_LINK_X509)[0]!.body);
    const id = parseX509(cell.ofType(CertType.RSA_ID_X509)[0]!.body);
    const idKey = x509RsaKey(id);
    checkRelayIdentityKey(idKey);
    expect(toHex(link1.der)).toBe(toHex(tlsCreds.certDer));
    expect(x509SignedBy(link1, idKey)).toBe(true);
    expect(x509SignedBy(id, idKey)).toBe(true);
    expect(x509ValidAt(link1, t0) && x509ValidAt(id, t0)).toBe(true);
  });

  it('type 5 certifies the SHA-256 of the X.509 certificate (key type 3), with no extensions', () => {
    const c5 = UnverifiedEd25519Cert.decode(cell.ofType(CertType.SIGNING_V_TLS_CERT)[0]!.body);
    expect(c5.unchecked.certKeyType).toBe(CertKeyType.SHA256_OF_X509);
    expect(c5.unchecked.extensions).toEqual([]);
    expect(c5.encode()).toHaveLength(104);
  });

  it('is refused for another TLS certificate, another identity, or once type 5 has expired', () => {
    const other = makeTlsCredentials(keys.identity, { now: t0, linkKeyBits: 1024 });
    expect(() => verifyResponderCerts({ certs: cell, now: t0, expected, peerTlsCertificate: other.certDer })).toThrow(CertificateError);
    const stranger = RelayKeys.generate({ now: t0 });
    expect(() => verifyResponderCerts({ certs: cell, now: t0, expected: { rsaIdentity: stranger.rsaIdentityDigest } })).toThrow(CertificateError);
    expect(() => verifyResponderCerts({ certs: cell, now: at(2 * DAY + HOUR), expected })).toThrow(CertificateError);
  });

  it('reuses its certificates for half their life, then makes new ones that verify', () => {
    expect(toHex(link.responderCerts(at(HOUR)).ofType(5)[0]!.body)).toBe(toHex(cell.ofType(5)[0]!.body));
    const later = link.responderCerts(at(DAY + HOUR));
    expect(toHex(later.ofType(5)[0]!.body)).not.toBe(toHex(cell.ofType(5)[0]!.body));
    verifyResponderCerts({ certs: roundTrip(later), now: at(3 * DAY), expected, peerTlsCertificate: tlsCreds.certDer });
  });

  it('follows a renewed signing key', async () => {
    const k = RelayKeys.generate({ now: t0, policy: { signingKeyLifetimeMs: 3 * DAY } });
    const kTls = makeTlsCredentials(k.identity, { now: t0, linkKeyBits: 1024 });
    const l = new LinkCertificates(k, kTls);
    const before = l.responderCerts(t0);
    expect((await k.maintain(at(2 * DAY + HOUR))).signingKeyRenewed).toBe(true);
    const after = roundTrip(l.responderCerts(at(2 * DAY + HOUR)));
    expect(toHex(after.ofType(4)[0]!.body)).not.toBe(toHex(before.ofType(4)[0]!.body));
    const id = verifyResponderCerts({ certs: after, now: at(2 * DAY + 2 * HOUR), expected: { ed25519Identity: k.ed25519Identity }, peerTlsCertificate: kTls.certDer });
    expect(toHex(id.signingKey)).toBe(toHex(k.signing.signer.publicKey));
  });

  it('can leave out type 1', () => {
    const l = new LinkCertificates(keys, tlsCreds, { includeLinkCert: false });
    const c = roundTrip(l.responderCerts(t0));
    expect(c.certs.map((x) => x.type)).toEqual([2, 4, 5, 7]);
    verifyResponderCerts({ certs: c, now: t0, expected, peerTlsCertificate: tlsCreds.certDer });
    expect(() => new LinkCertificates(keys, tlsCreds, { linkCertLifetimeMs: 1000 })).toThrow(UsageError);
    // TLS credentials of another relay's identity are a bug in the caller.
    expect(() => new LinkCertificates(RelayKeys.generate({ now: t0 }), tlsCreds)).toThrow(UsageError);
  });
});

describe('initiator CERTS cell', () => {
  const link = new LinkCertificates(keys, tlsCreds);
  const cell = roundTrip(link.initiatorCerts(t0));

  it('carries types 2, 4, 6, 7, and passes the checks tor-spec §4.2 lists for an Ed25519 initiator', () => {
    expect(cell.certs.map((c) => c.type)).toEqual([2, 4, 6, 7]);
    const id = parseX509(cell.ofType(CertType.RSA_ID_X509)[0]!.body);
    const rsa = x509RsaKey(id);
    checkRelayIdentityKey(rsa);
    expect(x509SignedBy(id, rsa) && x509ValidAt(id, t0)).toBe(true);
    const c4 = UnverifiedEd25519Cert.decode(cell.ofType(CertType.IDENTITY_V_SIGNING)[0]!.body);
    const signing = c4.check().checkValidAt(t0);
    const edId = RsaCrossCert.decode(cell.ofType(CertType.RSA_ID_V_IDENTITY)[0]!.body).verify(rsa, t0);
    expect(toHex(signing.signedBy)).toBe(toHex(edId));
    const c6 = UnverifiedEd25519Cert.decode(cell.ofType(CertType.SIGNING_V_LINK_AUTH)[0]!.body);
    expect(c6.unchecked.certType).toBe(CertType.SIGNING_V_LINK_AUTH);
    expect(c6.unchecked.certKeyType).toBe(CertKeyType.ED25519);
    const auth = c6.check(signing.certifiedKey).checkValidAt(at(2 * DAY - HOUR));
    expect(toHex(auth.certifiedKey)).toBe(toHex(link.authKey(t0).key.publicKey));
    expect(rsa.fingerprint()).toBe(keys.fingerprint);
  });
});

const b32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const fieldsArb = fc.record({ cid: b32, sid: b32, cidEd: b32, sidEd: b32, slog: b32, clog: b32, scert: b32, tlsSecrets: b32, rand: fc.uint8Array({ minLength: 24, maxLength: 24 }) });

describe('AUTHENTICATE (Ed25519-SHA256-RFC5705)', () => {
  const link = new LinkCertificates(keys, tlsCreds);
  const authKey = link.authKey(t0).key;
  const peer = RelayKeys.generate({ now: t0 });
  const fields: Auth0003Fields = {
    cid: authIdentityDigest(keys.identity.publicDer),
    sid: authIdentityDigest(peer.identity.publicDer),
    cidEd: keys.ed25519Identity,
    sidEd: peer.ed25519Identity,
    slog: sha256(Uint8Array.of(1)),
    clog: sha256(Uint8Array.of(2)),
    scert: sha256(Uint8Array.of(3)),
    tlsSecrets: new Uint8Array(32).fill(4),
  };

  it('lays out AUTH0003, the eight 32-byte fields, RAND and an Ed25519 signature of those bytes', () => {
    const cell = Authenticate.decode(buildAuthenticate(fields, authKey).encode());
    expect(cell.authType).toBe(AuthMethod.ED25519_SHA256_RFC5705);
    const a = cell.authentication;
    expect(a).toHaveLength(AUTH0003_SIGNED_LEN + 64);
    expect(AUTH0003_SIGNED_LEN).toBe(288);
    expect(new TextDecoder().decode(a.subarray(0, 8))).toBe('AUTH0003');
    const order = [fields.cid, fields.sid, fields.cidEd, fields.sidEd, fields.slog, fields.clog, fields.scert, fields.tlsSecrets];
    order.forEach((f, i) => expect(toHex(a.subarray(8 + 32 * i, 40 + 32 * i))).toBe(toHex(f)));
    expect(verifyEd25519(a.subarray(288), a.subarray(0, 288), authKey.publicKey)).toBe(true);
    checkAuthenticate(cell, fields, authKey.publicKey);
    // RAND is fresh each time.
    expect(toHex(buildAuthenticate(fields, authKey).authentication.subarray(264, 288))).not.toBe(toHex(a.subarray(264, 288)));
  });

  it('a responder\'s check names the field that differs, and refuses another key', () => {
    const cell = buildAuthenticate(fields, authKey);
    expect(() => checkAuthenticate(cell, { ...fields, clog: sha256(Uint8Array.of(9)) }, authKey.publicKey)).toThrow(/CLOG/);
    expect(() => checkAuthenticate(cell, { ...fields, tlsSecrets: new Uint8Array(32) }, authKey.publicKey)).toThrow(/TLSSECRETS/);
    expect(() => checkAuthenticate(cell, fields, peer.signing.signer.publicKey)).toThrow(HandshakeError);
    expect(() => checkAuthenticate(new Authenticate(1, cell.authentication), fields, authKey.publicKey)).toThrow(HandshakeError);
    // Bytes after the signature are ignored.
    const extended = new Authenticate(3, Uint8Array.from([...cell.authentication, 1, 2, 3]));
    checkAuthenticate(extended, fields, authKey.publicKey);
  });

  it('any fields round-trip; any bytes are refused with a typed error', () => {
    fc.assert(
      fc.property(fieldsArb, (f) => {
        const cell = Authenticate.decode(buildAuthenticate(f, authKey).encode());
        expect(toHex(cell.authentication.subarray(264, 288))).toBe(toHex(f.rand));
        checkAuthenticate(cell, f, authKey.publicKey);
      }),
      { numRuns: 20 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat({ max: 4 }), (junk, type) => {
        expect(() => checkAuthenticate(new Authenticate(type, junk), fields, authKey.publicKey)).toThrow(TelescopeError);
      }),
    );
    expect(() => buildAuthenticate({ ...fields, slog: new Uint8Array(31) }, authKey)).toThrow(UsageError);
  });

  it('TLSSECRETS: both ends of a node:tls connection export the same value, under TLS 1.3 and 1.2', async () => {
    const cid = fields.cid;
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      let serverSide: Uint8Array | undefined;
      const server = tls.createServer({ ...tlsServerOptions(tlsCreds) }, (s) => {
        serverSide = exportAuthTlsSecrets(s, cid);
        s.end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const c = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false, maxVersion });
        await new Promise<void>((resolve, reject) => {
          c.once('secureConnect', resolve);
          c.once('error', reject);
        });
        const clientSide = exportAuthTlsSecrets(c, cid);
        expect(toHex(clientSide)).toBe(toHex(new Uint8Array(c.exportKeyingMaterial(32, AUTH0003_EXPORTER_LABEL, Buffer.from(cid)))));
        expect(toHex(clientSide)).not.toBe(toHex(exportAuthTlsSecrets(c, fields.cidEd)));
        expect(c.getProtocol()).toBe(maxVersion);
        await new Promise((resolve) => c.once('close', resolve));
        expect(clientSide).toHaveLength(32);
        expect(toHex(clientSide)).toBe(toHex(serverSide!));
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    }
  });
});
