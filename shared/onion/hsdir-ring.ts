import { sha3_256 } from '@noble/hashes/sha3.js';
import { concatBytes, utf8 } from '../bytes/index.ts';
import { UsageError } from '../util/index.ts';
import { supportsHsDirV3, type NetDir, type NetRelay } from '../netdir/index.ts';
import { int8 } from './keys.ts';
import { consensusParam, type RingUse, type SrvChoice } from './time-period.ts';

/**
 * The onion-service directory hash ring (rend-spec-v3 [HASHRING]). Each HSDir sits at
 * hsdir_index (from its ed25519 identity, the SRV and the period); each descriptor replica at
 * hs_index (from the blinded key and the period). A descriptor lives on the `spread` HSDirs that
 * follow each replica's position, walking the ring as tor's hs_get_responsible_hsdirs does.
 */

const NODE_IDX = utf8('node-idx');
const STORE_AT_IDX = utf8('store-at-idx');
const DISASTER = utf8('shared-random-disaster');

export const HSDIR_N_REPLICAS_DEFAULT = 2;
export const HSDIR_SPREAD_FETCH_DEFAULT = 3;
export const HSDIR_SPREAD_STORE_DEFAULT = 4;

function check32(what: string, b: Uint8Array): void {
  if (!(b instanceof Uint8Array) || b.length !== 32) throw new UsageError(`${what} must be 32 bytes`);
}

/** hsdir_index = SHA3-256("node-idx" | ed25519_id | srv | INT_8(period_num) | INT_8(period_length)). */
export function hsdirIndex(ed25519Id: Uint8Array, srv: Uint8Array, periodNum: number, periodLengthMinutes: number): Uint8Array {
  check32('relay ed25519 identity', ed25519Id);
  check32('shared random value', srv);
  return sha3_256(concatBytes(NODE_IDX, ed25519Id, srv, int8(periodNum), int8(periodLengthMinutes)));
}

/** hs_index = SHA3-256("store-at-idx" | blinded_key | INT_8(replica) | INT_8(period_length) | INT_8(period_num)). */
export function hsIndex(blindedKey: Uint8Array, replica: number, periodNum: number, periodLengthMinutes: number): Uint8Array {
  check32('blinded key', blindedKey);
  return sha3_256(concatBytes(STORE_AT_IDX, blindedKey, int8(replica), int8(periodLengthMinutes), int8(periodNum)));
}

/**
 * The SRV to use when the consensus has none (a network too young, or authorities that failed to
 * agree): SHA3-256("shared-random-disaster" | INT_8(period_length) | INT_8(period_num)).
 */
export function disasterSrv(periodNum: number, periodLengthMinutes: number): Uint8Array {
  return sha3_256(concatBytes(DISASTER, int8(periodLengthMinutes), int8(periodNum)));
}

/** The consensus SRV chosen by {@link RingUse.srv}, or the disaster SRV of the period if it is absent. */
export function sharedRandomValue(dir: Pick<NetDir, 'sharedRandCurrent' | 'sharedRandPrevious'>, which: SrvChoice, periodNum: number, periodLengthMinutes: number): Uint8Array {
  const v = which === 'current' ? dir.sharedRandCurrent : dir.sharedRandPrevious;
  return v ?? disasterSrv(periodNum, periodLengthMinutes);
}

export function hsdirReplicas(params: ReadonlyMap<string, number>): number {
  return consensusParam(params, 'hsdir_n_replicas', HSDIR_N_REPLICAS_DEFAULT, 1, 16);
}
export function hsdirSpreadFetch(params: ReadonlyMap<string, number>): number {
  return consensusParam(params, 'hsdir_spread_fetch', HSDIR_SPREAD_FETCH_DEFAULT, 1, 128);
}
export function hsdirSpreadStore(params: ReadonlyMap<string, number>): number {
  return consensusParam(params, 'hsdir_spread_store', HSDIR_SPREAD_STORE_DEFAULT, 1, 128);
}

/**
 * Whether a relay can hold v3 descriptors: the HSDir flag, a known ed25519 identity (the ring
 * position needs it), and protocol HSDir=2, as tor requires (node_supports_v3_hsdir). Nothing
 * else: the ring must be the one tor's services and clients compute, relay for relay.
 */
export function isV3HsDir(r: NetRelay): boolean {
  return r.flags.has('HSDir') && r.ed25519Identity !== undefined && r.ed25519Identity.length === 32 && supportsHsDirV3(r);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export interface ResponsibleOptions {
  /** HSDirs per replica; by default hsdir_spread_fetch or hsdir_spread_store per `purpose`. */
  readonly spread?: number;
  /** Number of replicas; by default the consensus hsdir_n_replicas (2). */
  readonly replicas?: number;
  /** Which default spread applies: a client fetches (3), a service stores (4). Default 'fetch'. */
  readonly purpose?: 'fetch' | 'store';
}

/**
 * The HSDirs responsible for the descriptor of `blindedKey` in period `periodNum`, in tor's order:
 * for replica 1..n, the first `spread` relays whose hsdir_index is ≥ hs_index (wrapping around the
 * ring), skipping relays an earlier replica already chose. Fewer come back when the ring is small.
 */
export function responsibleHsDirs(
  dir: Pick<NetDir, 'relays' | 'params'>,
  blindedKey: Uint8Array,
  periodNum: number,
  periodLengthMinutes: number,
  srv: Uint8Array,
  options: ResponsibleOptions = {},
): NetRelay[] {
  check32('blinded key', blindedKey);
  const replicas = options.replicas ?? hsdirReplicas(dir.params);
  const spread = options.spread ?? (options.purpose === 'store' ? hsdirSpreadStore(dir.params) : hsdirSpreadFetch(dir.params));
  if (!Number.isSafeInteger(replicas) || replicas < 1) throw new UsageError(`replicas must be a positive integer, got ${replicas}`);
  if (!Number.isSafeInteger(spread) || spread < 1) throw new UsageError(`spread must be a positive integer, got ${spread}`);

  const ring = dir.relays
    .filter(isV3HsDir)
    .map((relay) => ({ relay, index: hsdirIndex(relay.ed25519Identity!, srv, periodNum, periodLengthMinutes) }))
    .sort((a, b) => compareBytes(a.index, b.index));
  const chosen: NetRelay[] = [];
  if (ring.length === 0) return chosen;
  const taken = new Set<NetRelay>();
  for (let replica = 1; replica <= replicas; replica++) {
    const target = hsIndex(blindedKey, replica, periodNum, periodLengthMinutes);
    let start = ring.findIndex((e) => compareBytes(e.index, target) >= 0);
    if (start < 0) start = 0;
    let added = 0;
    for (let step = 0; step < ring.length && added < spread; step++) {
      const { relay } = ring[(start + step) % ring.length]!;
      if (taken.has(relay)) continue;
      taken.add(relay);
      chosen.push(relay);
      added++;
    }
  }
  return chosen;
}

/** The ring positions for one use (fetch, or one of a service's two uploads) of a NetDir. */
export function ringFor(dir: Pick<NetDir, 'sharedRandCurrent' | 'sharedRandPrevious'>, use: RingUse, periodLengthMinutes: number): { periodNum: number; periodLengthMinutes: number; srv: Uint8Array } {
  return { periodNum: use.periodNum, periodLengthMinutes, srv: sharedRandomValue(dir, use.srv, use.periodNum, periodLengthMinutes) };
}
