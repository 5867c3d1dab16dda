/**
 * A lean incremental SHA-1 for tor1's running cell digests. Every relay cell updates a running
 * digest, and a client peeling an inbound cell must try the digest of each hop and roll it back when
 * the cell is not that hop's. So this keeps its whole state in three small preallocated arrays,
 * allocates nothing per update, reads a digest without finalising (`digestInto`), and saves and
 * restores state by copying 5 words and one 64-byte block.
 */

const BLOCK = 64;

/** A saved SHA-1 state, reusable across `saveTo` calls to avoid allocation. */
export class Sha1State {
  readonly h = new Int32Array(5);
  readonly buffer = new Uint8Array(BLOCK);
  bufferLength = 0;
  /** Total bytes hashed (safe up to 2^53). */
  length = 0;
}

const INITIAL = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0];

export class Sha1 {
  private readonly h = new Int32Array(INITIAL);
  private readonly buffer = new Uint8Array(BLOCK);
  private bufferLength = 0;
  private length = 0;
  private readonly w = new Int32Array(80);
  /** Scratch for non-destructive digests. */
  private readonly tmpH = new Int32Array(5);
  private readonly tmpBlock = new Uint8Array(BLOCK);

  update(data: Uint8Array, offset = 0, len = data.length - offset): this {
    this.length += len;
    let pos = offset;
    const end = offset + len;
    if (this.bufferLength > 0) {
      const take = Math.min(BLOCK - this.bufferLength, len);
      this.buffer.set(data.subarray(pos, pos + take), this.bufferLength);
      this.bufferLength += take;
      pos += take;
      if (this.bufferLength < BLOCK) return this;
      compress(this.h, this.w, this.buffer, 0);
      this.bufferLength = 0;
    }
    for (; pos + BLOCK <= end; pos += BLOCK) compress(this.h, this.w, data, pos);
    if (pos < end) {
      this.buffer.set(data.subarray(pos, end), 0);
      this.bufferLength = end - pos;
    }
    return this;
  }

  /** Write the digest of everything hashed so far into `out`, leaving the running state as it is. */
  digestInto(out: Uint8Array, outOffset = 0): void {
    const h = this.tmpH;
    h.set(this.h);
    const block = this.tmpBlock;
    block.set(this.buffer);
    let n = this.bufferLength;
    block[n++] = 0x80;
    if (n > BLOCK - 8) {
      block.fill(0, n);
      compress(h, this.w, block, 0);
      n = 0;
    }
    block.fill(0, n, BLOCK - 8);
    const bits = this.length * 8;
    const hi = Math.floor(bits / 0x100000000);
    const lo = bits >>> 0;
    block[56] = hi >>> 24; block[57] = hi >>> 16; block[58] = hi >>> 8; block[59] = hi;
    block[60] = lo >>> 24; block[61] = lo >>> 16; block[62] = lo >>> 8; block[63] = lo;
    compress(h, this.w, block, 0);
    for (let i = 0; i < 5; i++) {
      const v = h[i]!;
      const o = outOffset + i * 4;
      out[o] = v >>> 24; out[o + 1] = v >>> 16; out[o + 2] = v >>> 8; out[o + 3] = v;
    }
  }

  /** The 20-byte digest so far (non-destructive). */
  digest(): Uint8Array {
    const out = new Uint8Array(20);
    this.digestInto(out);
    return out;
  }

  /** Copy the running state into `state` (allocated by the caller once, reused). */
  saveTo(state: Sha1State): void {
    state.h.set(this.h);
    state.buffer.set(this.buffer);
    state.bufferLength = this.bufferLength;
    state.length = this.length;
  }

  restoreFrom(state: Sha1State): void {
    this.h.set(state.h);
    this.buffer.set(state.buffer);
    this.bufferLength = state.bufferLength;
    this.length = state.length;
  }

  clone(): Sha1 {
    const c = new Sha1();
    c.h.set(this.h);
    c.buffer.set(this.buffer);
    c.bufferLength = this.bufferLength;
    c.length = this.length;
    return c;
  }
}

/** One-shot SHA-1. */
export function sha1Digest(data: Uint8Array): Uint8Array {
  return new Sha1().update(data).digest();
}

function compress(h: Int32Array, w: Int32Array, b: Uint8Array, o: number): void {
  for (let i = 0; i < 16; i++, o += 4) w[i] = (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
  for (let i = 16; i < 80; i++) {
    const x = w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!;
    w[i] = (x << 1) | (x >>> 31);
  }
  let a = h[0]!, bb = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!, t = 0, i = 0;
  // Four loops, one per round function, so the hot loop has no branch on the round number.
  for (; i < 20; i++) {
    t = (((a << 5) | (a >>> 27)) + ((bb & c) | (~bb & d)) + e + 0x5a827999 + w[i]!) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = t;
  }
  for (; i < 40; i++) {
    t = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + 0x6ed9eba1 + w[i]!) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = t;
  }
  for (; i < 60; i++) {
    t = (((a << 5) | (a >>> 27)) + ((bb & c) | (bb & d) | (c & d)) + e - 0x70e44324 + w[i]!) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = t;
  }
  for (; i < 80; i++) {
    t = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e - 0x359d3e2a + w[i]!) | 0;
    e = d; d = c; c = (bb << 30) | (bb >>> 2); bb = a; a = t;
  }
  h[0] = (h[0]! + a) | 0; h[1] = (h[1]! + bb) | 0; h[2] = (h[2]! + c) | 0; h[3] = (h[3]! + d) | 0; h[4] = (h[4]! + e) | 0;
}
