import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { toHex } from '../../shared/bytes/index.ts';
import {
  DerReader, DerTag, RsaPublicKey, derBitString, derExplicit, derInteger, derLength, derNull, derOctetString,
  derOid, derSequence, derTime, derTlv, derUnsignedInteger, derUtf8String,
} from '../../shared/crypto/index.ts';
import { TelescopeError, UsageError } from '../../shared/util/index.ts';

// The writer is in shared/crypto; its test is here because it checks against node:crypto.
describe('DER writer', () => {
  it('writes the encodings X.690 gives as examples', () => {
    expect(toHex(derInteger(0))).toBe('020100');
    expect(toHex(derInteger(127))).toBe('02017f');
    expect(toHex(derInteger(128))).toBe('02020080');
    expect(toHex(derInteger(256))).toBe('02020100');
    expect(toHex(derNull())).toBe('0500');
    expect(toHex(derOid('1.2.840.113549.1.1.11'))).toBe('06092a864886f70d01010b');
    expect(toHex(derOid('2.5.4.3'))).toBe('0603550403');
    expect(toHex(derBitString(Uint8Array.of(0xab)))).toBe('030200ab');
    expect(toHex(derUtf8String('a'))).toBe('0c0161');
    expect(toHex(derTime(new Date(Date.UTC(2026, 3, 14, 0, 0, 0))))).toBe(toHex(new TextEncoder().encode('\x17\x0d260414000000Z')));
    expect(toHex(derTime(new Date(Date.UTC(2050, 0, 1))))).toBe(toHex(new TextEncoder().encode('\x18\x0f20500101000000Z')));
    expect(toHex(derLength(127))).toBe('7f');
    expect(toHex(derLength(128))).toBe('8180');
    expect(toHex(derLength(256))).toBe('820100');
    expect(toHex(derLength(65536))).toBe('83010000');
  });

  it('integers read back through the core DerReader', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 2100n) - 1n }), (v) => {
        expect(new DerReader(derInteger(v)).unsignedInteger()).toBe(v);
      }),
    );
  });

  it('unsigned integers from bytes drop leading zeros', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        let v = 0n;
        for (const b of bytes) v = (v << 8n) | BigInt(b);
        expect(toHex(derUnsignedInteger(bytes))).toBe(toHex(derInteger(v)));
      }),
    );
  });

  it('OIDs read back through the core DerReader', () => {
    const oid = fc
      .tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }), fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { maxLength: 10 }))
      .map(([a, b, rest]) => [a, b, ...rest].join('.'));
    fc.assert(
      fc.property(oid, (s) => {
        expect(new DerReader(derOid(s)).oid()).toBe(s);
      }),
    );
    expect(new DerReader(derOid('2.999.3')).oid()).toBe('2.999.3');
  });

  it('times read back (whole seconds) in either form', () => {
    // From 1950: DerReader builds dates with Date.UTC, which reads years 0-99 as 1900-1999.
    fc.assert(
      fc.property(fc.date({ min: new Date('1950-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }), (d) => {
        const back = new DerReader(derTime(d)).time();
        expect(back.getTime()).toBe(Math.floor(d.getTime() / 1000) * 1000);
      }),
    );
  });

  it('nested elements of any size frame correctly', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 70_000 }), { maxLength: 3 }), (parts) => {
        const seq = derSequence(...parts.map(derOctetString), derExplicit(3, derNull()));
        const r = new DerReader(seq).enter(DerTag.SEQUENCE, 'seq');
        for (const p of parts) expect(toHex(r.read(DerTag.OCTET_STRING).content)).toBe(toHex(p));
        expect(r.read(DerTag.CONTEXT_3).content).toEqual(derNull());
        r.end();
      }),
      { numRuns: 20 },
    );
  });

  it('an RSA SubjectPublicKeyInfo it writes is accepted by node:crypto', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024, publicExponent: 65537 });
    const pkcs1 = new Uint8Array(publicKey.export({ type: 'pkcs1', format: 'der' }));
    const key = RsaPublicKey.fromPkcs1Der(pkcs1);
    const spki = derSequence(derSequence(derOid('1.2.840.113549.1.1.1'), derNull()), derBitString(derSequence(derInteger(key.modulus), derInteger(key.exponent))));
    expect(toHex(spki)).toBe(toHex(new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }))));
    expect(createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength).toBe(1024);
  });

  it('rejects input it cannot encode with a UsageError', () => {
    const bad = [
      () => derInteger(-1n),
      () => derOid('1'),
      () => derOid('3.1'),
      () => derOid('1.40'),
      () => derOid('1.2.x'),
      () => derTime(new Date(NaN)),
      () => derTime(new Date(Date.UTC(10000, 0, 1))),
      () => derTlv(0x1f, new Uint8Array()),
      () => derLength(-1),
      () => derExplicit(31, derNull()),
    ];
    for (const f of bad) expect(f).toThrow(UsageError);
  });

  it('arbitrary OID strings either encode and read back or give a typed error', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (s) => {
        try {
          expect(new DerReader(derOid(s)).oid()).toBe(s.replace(/(^|\.)0+(?=\d)/g, '$1'));
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
    );
  });
});
