import { UsageError } from '../errors.ts';

/**
 * The keys one hop of a circuit uses with tor1 relay crypto (tor-spec "Setting circuit keys"):
 * the first 72 bytes of the handshake's key material are Df | Db | Kf | Kb.
 */
export interface Tor1HopKeys {
  /** Df: seeds the running SHA-1 digest of cells sent away from the client. */
  readonly forwardDigestSeed: Uint8Array;
  /** Db: seeds the running SHA-1 digest of cells sent towards the client. */
  readonly backwardDigestSeed: Uint8Array;
  /** Kf: AES-128 key for the forward (outbound) direction. */
  readonly forwardKey: Uint8Array;
  /** Kb: AES-128 key for the backward (inbound) direction. */
  readonly backwardKey: Uint8Array;
}

export const TOR1_KEY_MATERIAL_LEN = 72;

/** Split handshake key material into tor1 hop keys (copies, so the material can be wiped). */
export function tor1KeysFrom(material: Uint8Array): Tor1HopKeys {
  if (material.length < TOR1_KEY_MATERIAL_LEN) {
    throw new UsageError(`tor1 needs ${TOR1_KEY_MATERIAL_LEN} bytes of key material, got ${material.length}`);
  }
  return {
    forwardDigestSeed: material.slice(0, 20),
    backwardDigestSeed: material.slice(20, 40),
    forwardKey: material.slice(40, 56),
    backwardKey: material.slice(56, 72),
  };
}
