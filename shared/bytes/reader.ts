import { ProtocolError } from '../util/index.ts';

/**
 * A bounds-checked cursor over bytes. Every read either succeeds or throws a ProtocolError naming
 * the context (set by the caller, e.g. "EXTEND2 body") and the offset, so a hostile peer can only
 * ever produce a typed error. Slices returned are views into the input (no copies); callers that
 * keep them beyond the life of the input buffer must copy.
 */
export class Reader {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private pos = 0;
  /** Offset of `bytes[0]` inside the outermost input, so nested readers report absolute offsets. */
  private readonly base: number;
  readonly context: string;

  constructor(bytes: Uint8Array, context = 'input', base = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.context = context;
    this.base = base;
  }

  /** Bytes consumed so far. */
  get consumed(): number {
    return this.pos;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  /** Absolute offset of the cursor, for error messages. */
  get offset(): number {
    return this.base + this.pos;
  }

  error(detail: string): ProtocolError {
    return new ProtocolError(this.context, detail, this.offset);
  }

  private need(n: number, what: string): void {
    if (n > this.remaining) {
      throw this.error(`truncated: need ${n} byte(s) for ${what}, have ${this.remaining}`);
    }
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.bytes[this.pos++]!;
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(what = 'u64'): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  /** Exactly `n` bytes, as a view into the input. */
  bytesN(n: number, what = 'bytes'): Uint8Array {
    if (!Number.isInteger(n) || n < 0) throw this.error(`invalid length ${n} for ${what}`);
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A u8 length followed by that many bytes. */
  lenU8(what = 'u8-prefixed bytes'): Uint8Array {
    return this.bytesN(this.u8(`length of ${what}`), what);
  }

  /** A u16 length followed by that many bytes. */
  lenU16(what = 'u16-prefixed bytes'): Uint8Array {
    return this.bytesN(this.u16(`length of ${what}`), what);
  }

  /** Bytes up to a NUL, consuming the NUL (which is not returned). */
  nulTerminated(what = 'NUL-terminated string'): Uint8Array {
    const end = this.bytes.indexOf(0, this.pos);
    if (end < 0) throw this.error(`${what} is not NUL-terminated`);
    const out = this.bytes.subarray(this.pos, end);
    this.pos = end + 1;
    return out;
  }

  /** Everything not yet read. */
  rest(): Uint8Array {
    return this.bytesN(this.remaining);
  }

  /** Skip `n` bytes. */
  skip(n: number, what = 'skipped bytes'): void {
    this.bytesN(n, what);
  }

  /** A reader over the next `n` bytes, advancing this one past them. */
  sub(n: number, context = this.context): Reader {
    const base = this.offset;
    return new Reader(this.bytesN(n, context), context, base);
  }

  /** A reader over a u8-length-prefixed region. */
  subU8(context = this.context): Reader {
    const n = this.u8(`length of ${context}`);
    return this.sub(n, context);
  }

  /** A reader over a u16-length-prefixed region. */
  subU16(context = this.context): Reader {
    const n = this.u16(`length of ${context}`);
    return this.sub(n, context);
  }

  /** Peek at the next byte without consuming it. */
  peekU8(): number {
    this.need(1, 'peeked u8');
    return this.bytes[this.pos]!;
  }

  /** The input must be fully consumed; trailing bytes are a protocol error. */
  shouldBeExhausted(): void {
    if (this.remaining !== 0) throw this.error(`${this.remaining} unexpected trailing byte(s)`);
  }
}
