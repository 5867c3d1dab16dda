import { Reader } from '../bytes/index.ts';

/**
 * A strict, minimal DER reader: enough ASN.1 to take X.509 certificates and PKCS#1 RSA keys
 * apart. Definite lengths only, minimal length encodings, single-byte tags (all X.509 uses), and
 * every failure a ProtocolError from the underlying Reader.
 */
export const DerTag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** Context-specific constructed [n]: 0xa0 + n. */
  CONTEXT_0: 0xa0,
  CONTEXT_3: 0xa3,
} as const;

export interface DerElement {
  readonly tag: number;
  /** The content octets. */
  readonly content: Uint8Array;
  /** The whole element, tag and length included (what signatures cover). */
  readonly raw: Uint8Array;
}

export class DerReader {
  private readonly r: Reader;
  private readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array, context = 'DER') {
    this.bytes = bytes;
    this.r = new Reader(bytes, context);
  }

  get remaining(): number {
    return this.r.remaining;
  }

  /** Read one element; if `tag` is given, it must match. */
  read(tag?: number, what = 'element'): DerElement {
    const start = this.r.consumed;
    const t = this.r.u8(`${what} tag`);
    if ((t & 0x1f) === 0x1f) throw this.r.error(`${what}: multi-byte tags are not supported`);
    if (tag !== undefined && t !== tag) throw this.r.error(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.toString(16)}`);
    let len = this.r.u8(`${what} length`);
    if (len === 0x80) throw this.r.error(`${what}: indefinite length is not DER`);
    if (len > 0x80) {
      const n = len & 0x7f;
      if (n > 4) throw this.r.error(`${what}: length of ${n} bytes is too large`);
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + this.r.u8(`${what} length`);
      if (len < 0x80 || (n > 1 && len < 1 << (8 * (n - 1)))) throw this.r.error(`${what}: non-minimal length encoding`);
    }
    const content = this.r.bytesN(len, what);
    return { tag: t, content, raw: this.bytes.subarray(start, this.r.consumed) };
  }

  /** Peek at the next tag without consuming, or undefined at the end. */
  peekTag(): number | undefined {
    return this.r.remaining > 0 ? this.r.peekU8() : undefined;
  }

  /** A reader over a constructed element's content. */
  enter(tag: number, what: string): DerReader {
    return new DerReader(this.read(tag, what).content, what);
  }

  end(): void {
    this.r.shouldBeExhausted();
  }

  /** A non-negative INTEGER as a bigint (DER: minimal encoding, no negative values accepted here). */
  unsignedInteger(what = 'INTEGER'): bigint {
    const c = this.read(DerTag.INTEGER, what).content;
    if (c.length === 0) throw this.r.error(`${what}: empty INTEGER`);
    if (c[0]! & 0x80) throw this.r.error(`${what}: negative INTEGER`);
    if (c.length > 1 && c[0] === 0 && !(c[1]! & 0x80)) throw this.r.error(`${what}: non-minimal INTEGER`);
    let v = 0n;
    for (const b of c) v = (v << 8n) | BigInt(b);
    return v;
  }

  /** An OBJECT IDENTIFIER in dotted form. */
  oid(what = 'OID'): string {
    const c = this.read(DerTag.OID, what).content;
    if (c.length === 0) throw this.r.error(`${what}: empty OID`);
    const parts: number[] = [];
    let v = 0;
    for (let i = 0; i < c.length; i++) {
      v = v * 128 + (c[i]! & 0x7f);
      if (v > Number.MAX_SAFE_INTEGER / 128) throw this.r.error(`${what}: OID component too large`);
      if (!(c[i]! & 0x80)) {
        parts.push(v);
        v = 0;
      } else if (i === c.length - 1) {
        throw this.r.error(`${what}: truncated OID component`);
      }
    }
    const first = parts.shift()!;
    const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
    return [...head, ...parts].join('.');
  }

  /** A BIT STRING with no unused bits (as keys and signatures are), as bytes. */
  bitStringBytes(what = 'BIT STRING'): Uint8Array {
    const c = this.read(DerTag.BIT_STRING, what).content;
    if (c.length === 0 || c[0] !== 0) throw this.r.error(`${what}: expected a whole number of bytes`);
    return c.subarray(1);
  }

  /** UTCTime or GeneralizedTime (the forms X.509 validity uses) as a Date. */
  time(what = 'time'): Date {
    const e = this.read(undefined, what);
    const s = String.fromCharCode(...e.content);
    let m: RegExpExecArray | null;
    if (e.tag === DerTag.UTC_TIME && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
      const yy = Number(m[1]);
      // RFC 5280: two-digit years 50-99 are 19xx, 00-49 are 20xx.
      return utc(yy >= 50 ? 1900 + yy : 2000 + yy, m.slice(2).map(Number));
    }
    if (e.tag === DerTag.GENERALIZED_TIME && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
      return utc(Number(m[1]), m.slice(2).map(Number));
    }
    throw this.r.error(`${what}: not a UTCTime/GeneralizedTime in Zulu form: "${s.slice(0, 20)}"`);
  }
}

function utc(year: number, [mo, d, h, mi, se]: number[]): Date {
  // Date.UTC reads years 0-99 as 1900-1999; a GeneralizedTime "0050" means the year 50.
  const date = new Date(Date.UTC(2000, mo! - 1, d!, h!, mi!, se!));
  date.setUTCFullYear(year, mo! - 1, d!);
  return date;
}
