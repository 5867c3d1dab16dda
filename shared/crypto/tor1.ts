import { RelayCryptoError, UsageError } from '../errors.ts';
import { Sha1, Sha1State } from './sha1.ts';
import { nobleAesCtr, type AesCtrFactory, type StreamCipher } from './aes-ctr.ts';
import type { Tor1HopKeys } from './circuit-keys.ts';

/**
 * tor1 relay-cell crypto (tor-spec "Routing relay cells", "Relay cells"): each hop and direction
 * has an AES-128-CTR stream and a running SHA-1 digest. A relay cell body is 509 bytes; its
 * `recognized` field (2 bytes at offset 1) is zero and its digest field (4 bytes at offset 5) holds
 * the first 4 bytes of the running digest over all cells for that hop in that direction, computed
 * with the digest field zeroed. Everything works in place on the caller's buffer and allocates
 * nothing per cell: digests go into caller-supplied 20-byte buffers when asked for (SENDME v1 needs
 * the full running digest of certain cells).
 */

export const RELAY_BODY_LEN = 509;
/** Offsets in the relay cell body (format v0); the same constants are in cells/relay. */
const RECOGNIZED_OFFSET = 1;
const DIGEST_OFFSET = 5;
const DIGEST_FIELD_LEN = 4;

function checkBody(body: Uint8Array): void {
  if (body.length !== RELAY_BODY_LEN) throw new UsageError(`relay cell body must be ${RELAY_BODY_LEN} bytes, got ${body.length}`);
}

/** One direction of one hop: cipher plus running digest, with a reusable snapshot for rollbacks. */
class Direction {
  readonly digest: Sha1;
  private readonly saved = new Sha1State();
  private readonly scratch = new Uint8Array(20);
  private readonly field = new Uint8Array(DIGEST_FIELD_LEN);

  constructor(readonly cipher: StreamCipher, seed: Uint8Array) {
    this.digest = new Sha1().update(seed);
  }

  /** Zero `recognized` and the digest field, absorb the cell, write the digest field. */
  seal(body: Uint8Array, digestOut?: Uint8Array): void {
    body[RECOGNIZED_OFFSET] = 0;
    body[RECOGNIZED_OFFSET + 1] = 0;
    body.fill(0, DIGEST_OFFSET, DIGEST_OFFSET + DIGEST_FIELD_LEN);
    this.digest.update(body);
    const d = digestOut ?? this.scratch;
    this.digest.digestInto(d);
    body.set(d.subarray(0, DIGEST_FIELD_LEN), DIGEST_OFFSET);
  }

  /**
   * After decryption: is this cell for us? `recognized` must be zero and the digest field must match
   * the running digest with this cell absorbed. If not, the digest is rolled back so a cell meant
   * for another hop leaves no trace.
   */
  recognize(body: Uint8Array, digestOut?: Uint8Array): boolean {
    if (body[RECOGNIZED_OFFSET] !== 0 || body[RECOGNIZED_OFFSET + 1] !== 0) return false;
    this.digest.saveTo(this.saved);
    this.field.set(body.subarray(DIGEST_OFFSET, DIGEST_OFFSET + DIGEST_FIELD_LEN));
    body.fill(0, DIGEST_OFFSET, DIGEST_OFFSET + DIGEST_FIELD_LEN);
    this.digest.update(body);
    const d = digestOut ?? this.scratch;
    this.digest.digestInto(d);
    body.set(this.field, DIGEST_OFFSET);
    let diff = 0;
    for (let i = 0; i < DIGEST_FIELD_LEN; i++) diff |= d[i]! ^ this.field[i]!;
    if (diff === 0) return true;
    this.digest.restoreFrom(this.saved);
    return false;
  }
}

interface Hop {
  readonly forward: Direction;
  readonly backward: Direction;
}

function makeHop(keys: Tor1HopKeys, aes: AesCtrFactory): Hop {
  return {
    forward: new Direction(aes(keys.forwardKey), keys.forwardDigestSeed),
    backward: new Direction(aes(keys.backwardKey), keys.backwardDigestSeed),
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

  /** Add the next hop once its handshake completes. */
  addHop(keys: Tor1HopKeys): void {
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

  constructor(keys: Tor1HopKeys, aes: AesCtrFactory = nobleAesCtr) {
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
