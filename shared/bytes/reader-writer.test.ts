import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Reader } from './reader.ts';
import { Writer } from './writer.ts';
import { ProtocolError, UsageError } from '../util/index.ts';
import { fromHex, toHex, fromBase64, toBase64, equalBytesConstantTime, concatBytes } from './util.ts';
import { openEnum } from './open-enum.ts';

/** One field of a random record, for round-trip properties. */
type Field =
  | { kind: 'u8'; v: number }
  | { kind: 'u16'; v: number }
  | { kind: 'u32'; v: number }
  | { kind: 'u64'; v: bigint }
  | { kind: 'lenU8'; v: Uint8Array }
  | { kind: 'lenU16'; v: Uint8Array }
  | { kind: 'nested'; v: Field[] };

const leaf: fc.Arbitrary<Field> = fc.oneof(
  fc.integer({ min: 0, max: 0xff }).map((v) => ({ kind: 'u8' as const, v })),
  fc.integer({ min: 0, max: 0xffff }).map((v) => ({ kind: 'u16' as const, v })),
  fc.integer({ min: 0, max: 0xffffffff }).map((v) => ({ kind: 'u32' as const, v })),
  fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }).map((v) => ({ kind: 'u64' as const, v })),
  fc.uint8Array({ maxLength: 255 }).map((v) => ({ kind: 'lenU8' as const, v })),
  fc.uint8Array({ maxLength: 600 }).map((v) => ({ kind: 'lenU16' as const, v })),
);
const field: fc.Arbitrary<Field> = fc.oneof(
  { weight: 5, arbitrary: leaf },
  { weight: 1, arbitrary: fc.array(leaf, { maxLength: 5 }).map((v) => ({ kind: 'nested' as const, v })) },
);

function write(w: Writer, f: Field): void {
  switch (f.kind) {
    case 'u8': w.u8(f.v); break;
    case 'u16': w.u16(f.v); break;
    case 'u32': w.u32(f.v); break;
    case 'u64': w.u64(f.v); break;
    case 'lenU8': w.lenU8(f.v); break;
    case 'lenU16': w.lenU16(f.v); break;
    case 'nested': w.withLength(2, () => f.v.forEach((g) => write(w, g))); break;
  }
}

function read(r: Reader, f: Field): Field {
  switch (f.kind) {
    case 'u8': return { kind: 'u8', v: r.u8() };
    case 'u16': return { kind: 'u16', v: r.u16() };
    case 'u32': return { kind: 'u32', v: r.u32() };
    case 'u64': return { kind: 'u64', v: r.u64() };
    case 'lenU8': return { kind: 'lenU8', v: r.lenU8() };
    case 'lenU16': return { kind: 'lenU16', v: r.lenU16() };
    case 'nested': {
      const sub = r.subU16('nested');
      const v = f.v.map((g) => read(sub, g));
      sub.shouldBeExhausted();
      return { kind: 'nested', v };
    }
  }
}

describe('Reader/Writer', () => {
  it('round-trips any sequence of fields, including back-patched nested lengths', () => {
    fc.assert(
      fc.property(fc.array(field, { maxLength: 12 }), (fields) => {
        const w = new Writer(1);
        fields.forEach((f) => write(w, f));
        const bytes = w.finish();
        const r = new Reader(bytes, 'record');
        const back = fields.map((f) => read(r, f));
        r.shouldBeExhausted();
        expect(back).toEqual(fields);
      }),
      { numRuns: 300 },
    );
  });

  it('gives only ProtocolError on truncated input', () => {
    fc.assert(
      fc.property(fc.array(field, { minLength: 1, maxLength: 8 }), fc.nat(), (fields, cut) => {
        const w = new Writer();
        fields.forEach((f) => write(w, f));
        const bytes = w.finish();
        const truncated = bytes.subarray(0, cut % bytes.length);
        const r = new Reader(truncated, 'truncated record');
        expect(() => {
          fields.forEach((f) => read(r, f));
          r.shouldBeExhausted();
        }).toThrow(ProtocolError);
      }),
      { numRuns: 300 },
    );
  });

  it('reports context and absolute offset of nested failures', () => {
    const r = new Reader(fromHex('0102' + '0002' + 'aabb'), 'outer');
    r.u16();
    const sub = r.subU16('inner');
    sub.u16();
    try {
      sub.u8('flag');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ProtocolError);
      const pe = e as ProtocolError;
      expect(pe.context).toBe('inner');
      expect(pe.offset).toBe(6);
      expect(pe.message).toContain('flag');
    }
  });

  it('rejects trailing bytes and invalid lengths', () => {
    const r = new Reader(new Uint8Array(3), 'x');
    r.u16();
    expect(() => r.shouldBeExhausted()).toThrow(/1 unexpected trailing byte/);
    expect(() => r.bytesN(-1)).toThrow(ProtocolError);
    expect(() => r.bytesN(2)).toThrow(/truncated/);
  });

  it('refuses out-of-range writes as a usage error', () => {
    expect(() => new Writer().u8(256)).toThrow(UsageError);
    expect(() => new Writer().u16(-1)).toThrow(UsageError);
    expect(() => new Writer().u32(1.5)).toThrow(UsageError);
    expect(() => new Writer().lenU8(new Uint8Array(256))).toThrow(UsageError);
    const w = new Writer();
    const p = w.beginLength(1);
    w.zeros(300);
    expect(() => w.endLength(p)).toThrow(UsageError);
  });
});

describe('byte utilities', () => {
  it('hex and base64 round-trip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        expect(fromHex(toHex(b))).toEqual(b);
        expect(fromBase64(toBase64(b))).toEqual(b);
        expect(fromBase64(toBase64(b, false))).toEqual(b);
      }),
    );
  });

  it('rejects malformed hex and base64 with ProtocolError', () => {
    expect(() => fromHex('abc')).toThrow(ProtocolError);
    expect(() => fromHex('zz')).toThrow(ProtocolError);
    expect(() => fromBase64('a')).toThrow(ProtocolError);
    expect(() => fromBase64('**')).toThrow(ProtocolError);
  });

  it('compares and concatenates', () => {
    expect(equalBytesConstantTime(fromHex('0102'), fromHex('0102'))).toBe(true);
    expect(equalBytesConstantTime(fromHex('0102'), fromHex('0103'))).toBe(false);
    expect(equalBytesConstantTime(fromHex('01'), fromHex('0102'))).toBe(false);
    expect(toHex(concatBytes(fromHex('01'), new Uint8Array(0), fromHex('0203')))).toBe('010203');
  });
});

describe('openEnum', () => {
  it('names known values and keeps unknown ones representable', () => {
    const E = openEnum({ A: 1, B: 2 });
    expect(E.A).toBe(1);
    expect(E.nameOf(2)).toBe('B');
    expect(E.nameOf(77)).toBe('UNKNOWN(77)');
    expect(E.isKnown(77)).toBe(false);
  });
});
