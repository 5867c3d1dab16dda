import { UsageError } from '../util/index.ts';

/** A handle to a length prefix written before its contents were known. */
export interface LengthPrefix {
  readonly at: number;
  readonly width: 1 | 2;
}

/**
 * A growable byte builder. Length prefixes may be written before their contents and back-patched
 * once the contents end (`beginLength` / `endLength`), which is how nested TLV structures such as
 * EXTEND2 link specifiers and cert extensions are encoded without building temporaries.
 */
export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initialCapacity = 64) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.len;
  }

  private ensure(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  private checkInt(v: number, max: number, what: string): void {
    if (!Number.isInteger(v) || v < 0 || v > max) {
      throw new UsageError(`Writer.${what}: value ${v} out of range 0..${max}`);
    }
  }

  u8(v: number): this {
    this.checkInt(v, 0xff, 'u8');
    this.ensure(1);
    this.buf[this.len++] = v;
    return this;
  }

  u16(v: number): this {
    this.checkInt(v, 0xffff, 'u16');
    this.ensure(2);
    this.view.setUint16(this.len, v);
    this.len += 2;
    return this;
  }

  u32(v: number): this {
    this.checkInt(v, 0xffffffff, 'u32');
    this.ensure(4);
    this.view.setUint32(this.len, v);
    this.len += 4;
    return this;
  }

  u64(v: bigint): this {
    if (v < 0n || v > 0xffffffffffffffffn) throw new UsageError(`Writer.u64: value ${v} out of range`);
    this.ensure(8);
    this.view.setBigUint64(this.len, v);
    this.len += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** `n` zero bytes (padding). */
  zeros(n: number): this {
    this.checkInt(n, Number.MAX_SAFE_INTEGER, 'zeros');
    this.ensure(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
    return this;
  }

  /** A u8 length then the bytes. */
  lenU8(b: Uint8Array): this {
    return this.u8(checkedLength(b.length, 0xff)).bytes(b);
  }

  /** A u16 length then the bytes. */
  lenU16(b: Uint8Array): this {
    return this.u16(checkedLength(b.length, 0xffff)).bytes(b);
  }

  /** Reserve a length prefix to be filled in by `endLength` once the contents are written. */
  beginLength(width: 1 | 2): LengthPrefix {
    const at = this.len;
    if (width === 1) this.u8(0);
    else this.u16(0);
    return { at, width };
  }

  /** Back-patch a prefix from `beginLength` with the number of bytes written since it. */
  endLength(prefix: LengthPrefix): this {
    const n = this.len - prefix.at - prefix.width;
    if (prefix.width === 1) {
      this.buf[prefix.at] = checkedLength(n, 0xff);
    } else {
      this.view.setUint16(prefix.at, checkedLength(n, 0xffff));
    }
    return this;
  }

  /** Write a nested structure with a back-patched length prefix. */
  withLength(width: 1 | 2, body: (w: this) => void): this {
    const p = this.beginLength(width);
    body(this);
    return this.endLength(p);
  }

  /** A copy of the bytes written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function checkedLength(n: number, max: number): number {
  if (n > max) throw new UsageError(`length ${n} does not fit in a ${max === 0xff ? 'u8' : 'u16'} prefix`);
  return n;
}
