import { describe, expect, it } from 'vitest';
import { utf8 } from '../bytes/index.ts';
import { DerReader, DerTag } from './der.ts';

const tlv = (tag: number, text: string) => Uint8Array.of(tag, text.length, ...utf8(text));

describe('DER times', () => {
  it('reads UTCTime with RFC 5280\'s century rule and GeneralizedTime years as written', () => {
    expect(new DerReader(tlv(DerTag.UTC_TIME, '491231235959Z')).time().toISOString()).toBe('2049-12-31T23:59:59.000Z');
    expect(new DerReader(tlv(DerTag.UTC_TIME, '500101000000Z')).time().toISOString()).toBe('1950-01-01T00:00:00.000Z');
    expect(new DerReader(tlv(DerTag.GENERALIZED_TIME, '20500101000000Z')).time().toISOString()).toBe('2050-01-01T00:00:00.000Z');
    // A four-digit year below 100 is that year, not 19xx (Date.UTC's legacy mapping).
    expect(new DerReader(tlv(DerTag.GENERALIZED_TIME, '00500301120000Z')).time().getUTCFullYear()).toBe(50);
  });
});
