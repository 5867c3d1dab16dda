import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateError, TelescopeError } from '../../../shared/util/index.ts';
import { makeTestCa, type TestCa } from '../../../testnet/tls-test-ca.ts';
import { parsePemCertificates } from './ca-bundle.ts';

let ca: TestCa;
let otherCa: TestCa;

beforeAll(() => {
  ca = makeTestCa();
  otherCa = makeTestCa('Some Other CA');
});

afterAll(() => {
  ca?.dispose();
  otherCa?.dispose();
});

describe('extra CA certificates', () => {
  it('reads PEM blocks and refuses anything else', () => {
    const ders = parsePemCertificates(`comment\n${ca.caPem}\n${otherCa.caPem}`);
    expect(ders).toHaveLength(2);
    expect(ders[0]![0]).toBe(0x30);
    expect(() => parsePemCertificates('-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----')).toThrow(CertificateError);
    expect(() => parsePemCertificates('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')).toThrow(CertificateError);
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => {
      try { parsePemCertificates(`-----BEGIN CERTIFICATE-----\n${s}\n-----END CERTIFICATE-----`); } catch (e) { expect(e).toBeInstanceOf(TelescopeError); }
    }));
  });
});
