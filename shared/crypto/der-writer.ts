import { concatBytes, utf8 } from '../bytes/index.ts';
import { DerTag } from './der.ts';
import { UsageError } from '../util/index.ts';

/**
 * A small DER *writer*: the counterpart of shared/crypto/der.ts's DerReader, with just what a relay
 * needs to issue its own X.509 certificates (relay-bridge's tls-cert.ts) and to encode RSA keys:
 * definite minimal lengths, single-byte
 * tags, non-negative INTEGERs, OIDs, UTF8String, UTCTime/GeneralizedTime, BIT STRING with no unused
 * bits, and explicit context tags. Each function returns a complete element (tag, length, content)
 * so certificates are written as nested calls that read like their ASN.1 definition.
 *
 * Wrong input (a negative integer, a malformed OID, a date X.509 cannot express) is a UsageError:
 * it is always a bug in the caller, never bytes from the network.
 */

/** The DER length octets for a content of `n` bytes. */
export function derLength(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`DER length ${n} is not a non-negative integer`);
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  // DerReader accepts at most four length octets; nothing Tor issues comes near that.
  if (bytes.length > 4) throw new UsageError(`DER length ${n} is too large`);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One element: tag, length and content. */
export function derTlv(tag: number, content: Uint8Array): Uint8Array {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & 0x1f) === 0x1f) throw new UsageError(`DER tag ${tag} is not a single-byte tag`);
  return concatBytes(Uint8Array.of(tag), derLength(content.length), content);
}

export function derSequence(...elements: readonly Uint8Array[]): Uint8Array {
  return derTlv(DerTag.SEQUENCE, concatBytes(...elements));
}

/** A SET of the given elements, in the order given (DER would sort a SET OF; X.509 names use one element per SET). */
export function derSet(...elements: readonly Uint8Array[]): Uint8Array {
  return derTlv(DerTag.SET, concatBytes(...elements));
}

/** A non-negative INTEGER from a bigint, minimally encoded (a leading 0 only when the top bit is set). */
export function derInteger(value: bigint | number): Uint8Array {
  const v = BigInt(value);
  if (v < 0n) throw new UsageError('DER INTEGER: negative values are not supported');
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return derTlv(DerTag.INTEGER, bytes);
}

/** A non-negative INTEGER whose big-endian magnitude is `bytes` (leading zeros are dropped). */
export function derUnsignedInteger(bytes: Uint8Array): Uint8Array {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return derInteger(v);
}

export function derNull(): Uint8Array {
  return Uint8Array.of(DerTag.NULL, 0);
}

/** An OBJECT IDENTIFIER from its dotted form, e.g. "1.2.840.113549.1.1.11". */
export function derOid(dotted: string): Uint8Array {
  if (!/^[0-9]+(\.[0-9]+)+$/.test(dotted)) throw new UsageError(`malformed OID "${dotted}"`);
  const arcs = dotted.split('.').map(Number);
  if (arcs.some((a) => !Number.isSafeInteger(a))) throw new UsageError(`OID "${dotted}" has an arc that is too large`);
  const [first, second, ...rest] = arcs as [number, number, ...number[]];
  if (first > 2 || (first < 2 && second > 39)) throw new UsageError(`OID "${dotted}" has invalid first arcs`);
  const out: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    // Base-128, most significant group first, continuation bit on all but the last.
    const groups: number[] = [];
    let v = arc;
    do {
      groups.unshift(v % 128);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < groups.length - 1; i++) groups[i]! |= 0x80;
    out.push(...groups);
  }
  return derTlv(DerTag.OID, Uint8Array.from(out));
}

export function derUtf8String(s: string): Uint8Array {
  return derTlv(DerTag.UTF8_STRING, utf8(s));
}

export function derOctetString(bytes: Uint8Array): Uint8Array {
  return derTlv(DerTag.OCTET_STRING, bytes);
}

/** A BIT STRING holding whole bytes (no unused bits), as keys and signatures are. */
export function derBitString(bytes: Uint8Array): Uint8Array {
  return derTlv(DerTag.BIT_STRING, concatBytes(Uint8Array.of(0), bytes));
}

/** An explicit context-specific tag [n] around one element (e.g. [0] for the X.509 version). */
export function derExplicit(n: number, element: Uint8Array): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 30) throw new UsageError(`context tag [${n}] is out of range`);
  return derTlv(0xa0 + n, element);
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * An X.509 Time (RFC 5280 §4.1.2.5): UTCTime for the years 1950–2049, GeneralizedTime otherwise;
 * whole seconds, always in Zulu form. Milliseconds are dropped.
 */
export function derTime(date: Date): Uint8Array {
  const t = date.getTime();
  if (!Number.isFinite(t)) throw new UsageError('DER time: invalid date');
  const y = date.getUTCFullYear();
  if (y < 0 || y > 9999) throw new UsageError(`DER time: year ${y} cannot be written`);
  const rest = `${pad2(date.getUTCMonth() + 1)}${pad2(date.getUTCDate())}${pad2(date.getUTCHours())}${pad2(date.getUTCMinutes())}${pad2(date.getUTCSeconds())}Z`;
  if (y >= 1950 && y <= 2049) return derTlv(DerTag.UTC_TIME, utf8(`${pad2(y % 100)}${rest}`));
  return derTlv(DerTag.GENERALIZED_TIME, utf8(`${String(y).padStart(4, '0')}${rest}`));
}
