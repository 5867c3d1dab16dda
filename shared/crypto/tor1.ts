import { sha3_256, Keccak } from '@noble/hashes/sha3.js';
import { RelayCryptoError, UsageError } from '../util/index.ts';
import { Sha1, Sha1State } from './sha1.ts';
import { nobleAesCtr, type AesCtrFactory, type StreamCipher } from './aes-ctr.ts';
import type { HopKeys } from './circuit-keys.ts';

/**
 * tor1 relay-cell crypto (tor-spec "Routing relay cells", "Relay cells"): each hop and direction
 * has an AES-128-CTR stream and a running SHA-1 digest. A relay cell body is 509 bytes; its
 * `recognized` field (2 bytes at offset 1) is zero and its digest field (4 bytes at offset 5) holds
 * the first 4 bytes of the running digest over all cells for that hop in that direction, computed
 * with the digest field zeroed. Everything works in place on the caller's buffer and allocates
 * nothing per cell: digests go into caller-supplied 20-byte buffers when asked for (SENDME v1 needs
 * the full running digest of certain cells).
 *
 * The virtual hop hs-ntor adds to an onion-service circuit (rend-spec-v3 "Key expansion") works the
 * same way with SHA3-256 running digests and AES-256-CTR; its keys have `kind: 'hs-v3'`. The digest
 * field is still 4 bytes, and the SENDME v1 digest of such a hop is the first 20 bytes of its
 * SHA3-256 running digest (tor keeps a DIGEST_LEN sendme_digest for every hop, relay_crypto.c).
 */

export const RELAY_BODY_LEN = 509;
/** Offsets in the relay cell body (format v0); the same constants are in cells/relay. */
const RECOGNIZED_OFFSET = 1;
const DIGEST_OFFSET = 5;
const DIGEST_FIELD_LEN = 4;

function checkBody(body: Uint8Array): void {
  if (body.length !== RELAY_BODY_LEN) throw new UsageError(`relay cell body must be ${RELAY_BODY_LEN} bytes, got ${body.length}`);
}

/**
 * A running digest over a hop direction's cells, with one snapshot slot so a cell meant for another
 * hop can be taken back out.
 */
interface RunningDigest {
  update(body: Uint8Array): void;
  /** The first 20 bytes of the digest so far into `out`, leaving the running state as it was. */
  peek20(out: Uint8Array): void;
  save(): void;
  restore(): void;
}

/** tor1's running SHA-1. */
class Sha1Running implements RunningDigest {
  private readonly h: Sha1;
  private readonly saved = new Sha1State();

  constructor(seed: Uint8Array) {
    this.h = new Sha1().update(seed);
  }

  update(body: Uint8Array): void {
    this.h.update(body);
  }

  peek20(out: Uint8Array): void {
    this.h.digestInto(out);
  }

  save(): void {
    this.h.saveTo(this.saved);
  }

  restore(): void {
    this.h.restoreFrom(this.saved);
  }
}

function newSha3(): Keccak {
  const h = sha3_256.create();
  // _cloneInto is what lets the running state be read and snapshotted without allocating.
  if (!(h instanceof Keccak)) throw new UsageError('@noble/hashes sha3_256 is not a Keccak sponge');
  return h;
}

/** The onion-service hop's running SHA3-256 (noble's sponge, copied into reusable spares). */
class Sha3Running implements RunningDigest {
  private readonly h = newSha3();
  private readonly saved = newSha3();
  private readonly scratch = newSha3();
  private readonly full = new Uint8Array(32);

  constructor(seed: Uint8Array) {
    this.h.update(seed);
  }

  update(body: Uint8Array): void {
    this.h.update(body);
  }

  peek20(out: Uint8Array): void {
    // Finishing a sponge ends it, so finish a copy.
    this.h._cloneInto(this.scratch).digestInto(this.full);
    out.set(this.full.subarray(0, 20));
  }

  save(): void {
    this.h._cloneInto(this.saved);
  }

  restore(): void {
    this.saved._cloneInto(this.h);
  }
}

/** One direction of one hop: cipher plus running digest. */
class Direction {
  private readonly scratch = new Uint8Array(20);
  private readonly field = new Uint8Array(DIGEST_FIELD_LEN);

  constructor(readonly cipher: StreamCipher, readonly digest: RunningDigest) {}

  /** Zero `recognized` and the digest field, absorb the cell, write the digest field. */
  seal(body: Uint8Array, digestOut?: Uint8Array): void {
    body[RECOGNIZED_OFFSET] = 0;
    body[RECOGNIZED_OFFSET + 1] = 0;
    body.fill(0, DIGEST_OFFSET, DIGEST_OFFSET + DIGEST_FIELD_LEN);
    this.digest.update(body);
    const d = digestOut ?? this.scratch;
    this.digest.peek20(d);
    body.set(d.subarray(0, DIGEST_FIELD_LEN), DIGEST_OFFSET);
  }

  /**
   * After decryption: is this cell for us? `recognized` must be zero and the digest field must match
   * the running digest with this cell absorbed. If not, the digest is rolled back so a cell meant
   * for another hop leaves no trace.
   */
  recognize(body: Uint8Array, digestOut?: Uint8Array): boolean {
    if (body[RECOGNIZED_OFFSET] !== 0 || body[RECOGNIZED_OFFSET + 1] !== 0) return false;
    this.digest.save();
    this.field.set(body.subarray(DIGEST_OFFSET, DIGEST_OFFSET + DIGEST_FIELD_LEN));
    body.fill(0, DIGEST_OFFSET, DIGEST_OFFSET + DIGEST_FIELD_LEN);
    this.digest.update(body);
    const d = digestOut ?? this.scratch;
    this.digest.peek20(d);
    body.set(this.field, DIGEST_OFFSET);
    let diff = 0;
    for (let i = 0; i < DIGEST_FIELD_LEN; i++) diff |= d[i]! ^ this.field[i]!;
    if (diff === 0) return true;
    this.digest.restore();
    return false;
  }
}

interface Hop {
  readonly forward: Direction;
  readonly backward: Direction;
}

const KEY_LENGTHS = { tor1: { seed: 20, key: 16 }, 'hs-v3': { seed: 32, key: 32 } } as const;

function makeHop(keys: HopKeys, aes: AesCtrFactory): Hop {
  const kind = keys.kind ?? 'tor1';
  const want = KEY_LENGTHS[kind];
  for (const [name, k, n] of [
    ['forward digest seed', keys.forwardDigestSeed, want.seed],
    ['backward digest seed', keys.backwardDigestSeed, want.seed],
    ['forward key', keys.forwardKey, want.key],
    ['backward key', keys.backwardKey, want.key],
  ] as const) {
    if (k.length !== n) throw new UsageError(`${kind} hop ${name} must be ${n} bytes, got ${k.length}`);
  }
  const digest = kind === 'hs-v3' ? (seed: Uint8Array) => new Sha3Running(seed) : (seed: Uint8Array) => new Sha1Running(seed);
  return {
    forward: new Direction(aes(keys.forwardKey), digest(keys.forwardDigestSeed)),
    backward: new Direction(aes(keys.backwardKey), digest(keys.backwardDigestSeed)),
  };
}

/**
 * The client's view of a circuit: one layer per hop. Outbound cells are sealed for their target
 * hop and encrypted from that hop inwards; inbound cells are peeled from hop 0 outwards until a
 * hop recognizes them (leaky pipe: any hop may originate cells).
 */
export class ClientCircuitCrypto {
  private readonly hops: Hop[] = [];

  constructor(private readonly aes: AesCtrFactory = nobleAesCtr) {}

  get hopCount(): number {
    return this.hops.length;
  }

  /**
   * Add the next hop once its handshake completes: a relay (tor1 keys) or, last on a rendezvous
   * circuit, the onion-service end (hs-v3 keys; the service adds it with `reverseHopKeys`).
   */
  addHop(keys: HopKeys): void {
    this.hops.push(makeHop(keys, this.aes));
  }

  /** Forget hops after `hopCount` (after a TRUNCATED, to extend elsewhere). */
  truncateTo(hopCount: number): void {
    if (hopCount < 0 || hopCount > this.hops.length) throw new UsageError(`cannot truncate ${this.hops.length} hops to ${hopCount}`);
    this.hops.length = hopCount;
  }

  /**
   * Seal a plaintext relay body for hop `hop` (0-based) and encrypt it for the wire, in place.
   * `digestOut` (20 bytes) receives the full running digest, which SENDME v1 needs.
   */
  encryptOutbound(body: Uint8Array, hop: number, digestOut?: Uint8Array): void {
    checkBody(body);
    const target = this.hops[hop];
    if (!target) throw new UsageError(`no hop ${hop} on a ${this.hops.length}-hop circuit`);
    target.forward.seal(body, digestOut);
    for (let i = hop; i >= 0; i--) this.hops[i]!.forward.cipher.apply(body);
  }

  /**
   * Decrypt an inbound relay body in place and return the index of the hop that sent it.
   * Throws RelayCryptoError if no hop recognizes it: the circuit must then be closed.
   */
  decryptInbound(body: Uint8Array, digestOut?: Uint8Array): number {
    checkBody(body);
    for (let i = 0; i < this.hops.length; i++) {
      const hop = this.hops[i]!;
      hop.backward.cipher.apply(body);
      if (hop.backward.recognize(body, digestOut)) return i;
    }
    throw new RelayCryptoError(`inbound relay cell not recognized by any of ${this.hops.length} hop(s): bad digest or corrupted cell`);
  }
}

/** A relay's crypto for one circuit: the single layer it shares with the client. */
export class RelayHopCrypto {
  private readonly hop: Hop;

  constructor(keys: HopKeys, aes: AesCtrFactory = nobleAesCtr) {
    this.hop = makeHop(keys, aes);
  }

  /**
   * Remove this relay's layer from a cell travelling away from the client. True if the cell is for
   * this relay (then `digestOut` gets its running digest); false means forward it to the next hop.
   */
  decryptOutbound(body: Uint8Array, digestOut?: Uint8Array): boolean {
    checkBody(body);
    this.hop.forward.cipher.apply(body);
    return this.hop.forward.recognize(body, digestOut);
  }

  /**
   * Add this relay's layer to a cell travelling towards the client. `originate` is true for cells
   * this relay creates (they are sealed with its backward digest first), false for cells relayed
   * from further out.
   */
  encryptInbound(body: Uint8Array, originate: boolean, digestOut?: Uint8Array): void {
    checkBody(body);
    if (originate) this.hop.backward.seal(body, digestOut);
    this.hop.backward.cipher.apply(body);
  }
}
