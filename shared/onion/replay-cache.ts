import { sha3_256 } from '@noble/hashes/sha3.js';
import { toHex } from '../bytes/index.ts';
import { UsageError } from '../util/index.ts';

/**
 * tor rotates an introduction point after 16384–32768 introductions (hs_service.h
 * INTRO_POINT_MIN/MAX_LIFETIME_INTRODUCTIONS); the replay cache of a point lives exactly as long as
 * the point, so this also bounds its memory.
 */
export const DEFAULT_MAX_INTRODUCTIONS_PER_POINT = 16_384;

/**
 * The replay cache of one introduction point ([PROCESS_INTRO2]: never accept the same request
 * twice). Keyed by a digest of INTRODUCE2's ENCRYPTED section, which holds the client's ephemeral
 * key and is MACed: a replayed cell is byte-identical there. It lives as long as the introduction
 * point's keys and holds at most `capacity` entries; the service retires the point when it is full.
 */
export class ReplayCache {
  private readonly seen = new Set<string>();
  constructor(readonly capacity: number = DEFAULT_MAX_INTRODUCTIONS_PER_POINT) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new UsageError(`replay cache capacity must be a positive integer, not ${capacity}`);
  }

  static keyOf(encrypted: Uint8Array): string {
    return toHex(sha3_256(encrypted));
  }

  has(key: string): boolean {
    return this.seen.has(key);
  }

  /** Record `key`; false when it was already there (a replay) or the cache is full. */
  add(key: string): boolean {
    if (this.seen.has(key) || this.full) return false;
    this.seen.add(key);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  get full(): boolean {
    return this.seen.size >= this.capacity;
  }
}
