import { UsageError } from '../util/index.ts';

/**
 * The keys one hop of a circuit uses with tor1 relay crypto (tor-spec "Setting circuit keys"):
 * the first 72 bytes of the handshake's key material are Df | Db | Kf | Kb.
 */
export interface Tor1HopKeys {
  /** Absent on keys made before hops had kinds; both mean tor1. */
  readonly kind?: 'tor1';
  /** Df: seeds the running SHA-1 digest of cells sent away from the client. */
  readonly forwardDigestSeed: Uint8Array;
  /** Db: seeds the running SHA-1 digest of cells sent towards the client. */
  readonly backwardDigestSeed: Uint8Array;
  /** Kf: AES-128 key for the forward (outbound) direction. */
  readonly forwardKey: Uint8Array;
  /** Kb: AES-128 key for the backward (inbound) direction. */
  readonly backwardKey: Uint8Array;
}

/**
 * The keys of the virtual hop an onion-service circuit gains from hs-ntor (rend-spec-v3 "Key
 * expansion"): the same cell format and layering as tor1, but running SHA3-256 digests seeded with
 * 32-byte Df/Db and AES-256-CTR with 32-byte Kf/Kb.
 */
export interface HsV3HopKeys {
  readonly kind: 'hs-v3';
  readonly forwardDigestSeed: Uint8Array;
  readonly backwardDigestSeed: Uint8Array;
  readonly forwardKey: Uint8Array;
  readonly backwardKey: Uint8Array;
}

/**
 * Keys for any hop a circuit can have; `kind` picks the relay-cell crypto (tor1.ts makes it).
 * CGO (proposal 359) plugs in as a kind of its own, made when a handshake negotiates it.
 */
export type HopKeys = Tor1HopKeys | HsV3HopKeys;

export const TOR1_KEY_MATERIAL_LEN = 72;
/** HASH_LEN * 2 + S_KEY_LEN * 2 with SHA3-256 and AES-256 (tor's HS_NTOR_KEY_EXPANSION_KDF_OUT_LEN). */
export const HS_V3_KEY_MATERIAL_LEN = 128;

/** Split handshake key material into tor1 hop keys (copies, so the material can be wiped). */
export function tor1KeysFrom(material: Uint8Array): Tor1HopKeys {
  if (material.length < TOR1_KEY_MATERIAL_LEN) {
    throw new UsageError(`tor1 needs ${TOR1_KEY_MATERIAL_LEN} bytes of key material, got ${material.length}`);
  }
  return {
    kind: 'tor1',
    forwardDigestSeed: material.slice(0, 20),
    backwardDigestSeed: material.slice(20, 40),
    forwardKey: material.slice(40, 56),
    backwardKey: material.slice(56, 72),
  };
}

/** Split hs-ntor's expanded key material (Df 32 | Db 32 | Kf 32 | Kb 32) into hop keys (copies). */
export function hsV3KeysFrom(material: Uint8Array): HsV3HopKeys {
  if (material.length < HS_V3_KEY_MATERIAL_LEN) {
    throw new UsageError(`an hs-v3 hop needs ${HS_V3_KEY_MATERIAL_LEN} bytes of key material, got ${material.length}`);
  }
  return {
    kind: 'hs-v3',
    forwardDigestSeed: material.slice(0, 32),
    backwardDigestSeed: material.slice(32, 64),
    forwardKey: material.slice(64, 96),
    backwardKey: material.slice(96, 128),
  };
}

/** KH's length: the hash of the handshake's key material that ntor and CREATE_FAST yield after the tor1 keys. */
export const KH_LEN = 20;
/** tor1 keys and then KH (tor-spec "KDF-TOR", "ntor"): what ntor and CREATE_FAST expand to. */
export const TOR1_HOP_KEY_MATERIAL_LEN = TOR1_KEY_MATERIAL_LEN + KH_LEN;

/**
 * What a circuit handshake negotiated besides keys. Empty today: ntor and CREATE_FAST negotiate
 * nothing. ntor-v3 (proposal 332) will carry the congestion-control parameters its extension block
 * agreed on here, and the circuit's congestion control is chosen from them.
 */
export interface NegotiatedParameters {}

/** Nothing negotiated (ntor, CREATE_FAST, the hs-ntor virtual hop). */
export const NOTHING_NEGOTIATED: NegotiatedParameters = Object.freeze({});

/**
 * What a completed circuit handshake gives one hop, on either end: the keys of its relay-cell
 * crypto, whose `kind` names that crypto (the crypto object is made from it, not assumed: tor1
 * today, CGO once a handshake negotiates it), KH for the hops whose handshake yields one, and
 * whatever else the handshake negotiated.
 */
export interface HopKeyMaterial {
  readonly keys: HopKeys;
  /** KH: the key of ESTABLISH_INTRO's HANDSHAKE_AUTH at this hop (rend-spec-v3). */
  readonly kh?: Uint8Array;
  readonly negotiated: NegotiatedParameters;
}

/** tor1 keys and KH from the TOR1_HOP_KEY_MATERIAL_LEN bytes ntor and CREATE_FAST expand to. */
export function tor1HopKeyMaterial(material: Uint8Array): HopKeyMaterial {
  if (material.length < TOR1_HOP_KEY_MATERIAL_LEN) {
    throw new UsageError(`a tor1 hop with KH needs ${TOR1_HOP_KEY_MATERIAL_LEN} bytes of key material, got ${material.length}`);
  }
  return { keys: tor1KeysFrom(material), kh: material.slice(TOR1_KEY_MATERIAL_LEN, TOR1_HOP_KEY_MATERIAL_LEN), negotiated: NOTHING_NEGOTIATED };
}

/**
 * The same keys seen from the other end. The onion service is the far end of the rendezvous
 * circuit's virtual hop yet builds its own circuit as a client, so it adds that hop with Kf/Df and
 * Kb/Db interchanged (rend-spec-v3 "Key expansion"; tor's relay_crypto_init `reverse`).
 */
export function reverseHopKeys<K extends HopKeys>(keys: K): K {
  return {
    ...keys,
    forwardDigestSeed: keys.backwardDigestSeed,
    backwardDigestSeed: keys.forwardDigestSeed,
    forwardKey: keys.backwardKey,
    backwardKey: keys.forwardKey,
  };
}
