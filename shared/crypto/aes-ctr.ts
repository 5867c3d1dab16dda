import { ctr } from '@noble/ciphers/aes.js';
import { UsageError } from '../util/index.ts';

/**
 * AES-CTR keystreams for relay crypto (AES-128 for tor1 hops, AES-256 for the onion-service hop).
 * tor1 starts every hop's counter at an all-zero IV and lets the 128-bit big-endian counter run on
 * across cells, so a hop direction's keystream is a pure function of its key and byte position.
 * That lets keystream be made ahead, in batches, by whichever engine is fastest, while `apply` stays
 * synchronous for the per-cell path.
 */

/** XORs a continuing keystream into bytes, in place. */
export interface StreamCipher {
  apply(buf: Uint8Array, offset?: number, length?: number): void;
}

/**
 * Makes the zero-IV AES-CTR stream cipher for a key: AES-128 for a 16-byte key, AES-256 for a
 * 32-byte one. Hosts may inject a faster engine.
 */
export type AesCtrFactory = (key: Uint8Array) => StreamCipher;

const AES_BLOCK = 16;
/**
 * One refill covers 32 relay cells: per-call overhead dominates below that (in a Chromium service
 * worker, one WebCrypto call per 509-byte cell ran at ~45 MB/s, one call for 64 cells ~250 MB/s).
 */
export const KEYSTREAM_BATCH = 32 * 512;

/** 16 bytes for tor1 hops, 32 for the onion-service hop (AES-256, rend-spec-v3 "Key expansion"). */
function checkKey(key: Uint8Array): void {
  if (key.length !== 16 && key.length !== 32) throw new UsageError(`AES-CTR needs a 16- or 32-byte key, got ${key.length}`);
}

/** The 16-byte big-endian counter block for keystream block number `block`. */
export function counterBlock(block: number): Uint8Array {
  const iv = new Uint8Array(AES_BLOCK);
  let v = block;
  for (let i = AES_BLOCK - 1; i >= 0 && v > 0; i--) {
    iv[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return iv;
}

/** Keystream bytes for blocks [firstBlock, firstBlock + out.length/16), computed synchronously. */
function nobleKeystream(key: Uint8Array, firstBlock: number, out: Uint8Array): void {
  out.fill(0);
  ctr(key, counterBlock(firstBlock)).encrypt(out, out);
}

/**
 * A keystream made in batches. It keeps one current batch; `apply` XORs from it and refills
 * synchronously (with @noble/ciphers) when it runs out. `WebCryptoAesCtr` adds asynchronous
 * prefetching on top.
 */
export class BatchedAesCtr implements StreamCipher {
  protected readonly key: Uint8Array;
  /** The current batch of keystream and the absolute block number it starts at. */
  protected batch: Uint8Array;
  protected batchBlock = 0;
  /** Bytes of the current batch already used. */
  protected used: number;

  constructor(key: Uint8Array, protected readonly batchSize = KEYSTREAM_BATCH) {
    checkKey(key);
    if (batchSize % AES_BLOCK !== 0 || batchSize <= 0) throw new UsageError('keystream batch must be a positive multiple of 16');
    this.key = key.slice();
    this.batch = new Uint8Array(batchSize);
    this.used = batchSize; // empty: the first apply refills at block 0
    this.batchBlock = -batchSize / AES_BLOCK;
  }

  /** Absolute keystream position in bytes. */
  get position(): number {
    return this.batchBlock * AES_BLOCK + this.used;
  }

  /** Replace the exhausted batch with the next one. Subclasses may supply prefetched keystream. */
  protected refill(): void {
    this.batchBlock += this.batch.length / AES_BLOCK;
    nobleKeystream(this.key, this.batchBlock, this.batch);
    this.used = 0;
  }

  apply(buf: Uint8Array, offset = 0, length = buf.length - offset): void {
    let i = offset;
    const end = offset + length;
    while (i < end) {
      if (this.used === this.batch.length) this.refill();
      const ks = this.batch;
      const n = Math.min(end - i, ks.length - this.used);
      let u = this.used;
      for (const stop = i + n; i < stop; i++, u++) buf[i]! ^= ks[u]!;
      this.used = u;
    }
  }
}

/** The default engine in shared/: @noble/ciphers, batched. */
export const nobleAesCtr: AesCtrFactory = (key) => new BatchedAesCtr(key);

/**
 * AES-CTR with keystream made by WebCrypto (much faster than JavaScript AES in a service worker:
 * ~250 MB/s for 64-cell batches vs ~30 MB/s for @noble/ciphers per cell, measured in Chromium 156
 * on a 2-core machine) and prefetched asynchronously: from construction on,
 * each batch taken starts making the next ones, so a circuit's cells find their keystream ready.
 * `apply` never waits: if no prefetched batch is ready it computes the same keystream synchronously
 * with @noble/ciphers.
 */
export class WebCryptoAesCtr extends BatchedAesCtr {
  private cryptoKey: Promise<CryptoKey> | undefined;
  /** Prefetched batches, by absolute starting block, in order. */
  private readonly ready: { block: number; bytes: Uint8Array }[] = [];
  private pending: Promise<void> | undefined;
  /** The block after the last one prefetched or in flight. */
  private prefetchEnd = 0;

  /** Why WebCrypto could not make keystream (then only the synchronous path runs). */
  prefetchError: unknown;

  constructor(key: Uint8Array, private readonly depth = 2, batchSize = KEYSTREAM_BATCH) {
    super(key, batchSize);
    this.keepAhead();
  }

  private keepAhead(): void {
    if (this.prefetchError !== undefined) return;
    this.prefetch().catch((e: unknown) => {
      // Kept for diagnosis, not retried: the synchronous engine produces the same keystream.
      this.prefetchError = e ?? new Error('WebCrypto prefetch failed');
    });
  }

  private importKey(): Promise<CryptoKey> {
    this.cryptoKey ??= globalThis.crypto.subtle.importKey('raw', this.key as BufferSource, { name: 'AES-CTR' }, false, ['encrypt']);
    return this.cryptoKey;
  }

  /** Make up to `depth` batches ahead of the current position. Resolves when they are ready. */
  prefetch(): Promise<void> {
    this.pending ??= this.fill().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fill(): Promise<void> {
    const blocksPerBatch = this.batchSize / AES_BLOCK;
    const key = await this.importKey();
    while (this.ready.length < this.depth) {
      const next = Math.max(this.prefetchEnd, this.batchBlock + blocksPerBatch);
      const zeros = new Uint8Array(this.batchSize);
      const ks = await globalThis.crypto.subtle.encrypt({ name: 'AES-CTR', counter: counterBlock(next) as BufferSource, length: 128 }, key, zeros);
      this.prefetchEnd = next + blocksPerBatch;
      // The synchronous path may have moved past this batch while WebCrypto worked; keep it only if
      // it is still ahead of the current position.
      if (next > this.batchBlock) this.ready.push({ block: next, bytes: new Uint8Array(ks) });
    }
  }

  protected override refill(): void {
    const nextBlock = this.batchBlock + this.batch.length / AES_BLOCK;
    while (this.ready.length > 0 && this.ready[0]!.block < nextBlock) this.ready.shift();
    const head = this.ready[0];
    if (head && head.block === nextBlock) {
      this.ready.shift();
      this.batch = head.bytes;
      this.batchBlock = nextBlock;
      this.used = 0;
    } else {
      super.refill();
    }
    this.keepAhead();
  }
}

export const webCryptoAesCtr: AesCtrFactory = (key) => new WebCryptoAesCtr(key);
