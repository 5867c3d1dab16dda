import type { HopKeyMaterial } from './circuit-keys.ts';
import type { Curve25519, NtorKeyPair, RandomBytes } from './ntor.ts';

/**
 * Circuit handshakes as the circuit and the relay see them (tor-spec "Create cells"): whatever
 * the math, a client starts one towards a relay and sends its onionskin in CREATE2 or EXTEND2 (or,
 * for CREATE_FAST, a CREATE_FAST cell), and finishes it with the relay's reply; the relay answers
 * an onionskin with its keys. Both ends come out with the same HopKeyMaterial, from which the hop's
 * relay-cell crypto and congestion control are made.
 *
 * The two sides are separate objects, registered by handshake type in client-handshakes.ts and
 * server-handshakes.ts: a relay's switch looks up relay sides only, a circuit client sides only.
 * A new handshake (ntor-v3) is a file of its own with both sides, and one line in each registry.
 */

/** What a client knows about the relay it handshakes with (a circuit's RelayTarget is one). */
export interface HandshakeTarget {
  /** 20-byte RSA identity digest. */
  readonly rsaIdentity: Uint8Array;
  readonly ed25519Identity?: Uint8Array;
  /** 32-byte Curve25519 ntor onion key. */
  readonly ntorOnionKey: Uint8Array;
}

/** Which cell carries a handshake: CREATE2 / EXTEND2 name it by type; CREATE_FAST has a cell of its own. */
export type HandshakeCarrier = 'create2' | 'create-fast';

interface HandshakeSide {
  /** The CREATE2 handshake type (tor's ONION_HANDSHAKE_TYPE_*; CREATE_FAST is 1). */
  readonly handshakeType: number;
  /** For logs and errors, e.g. 'ntor'. */
  readonly name: string;
  readonly carrier: HandshakeCarrier;
}

/** A client handshake that sent its onionskin: the one move left is `finish`. */
export interface StartedHandshake {
  readonly handshakeType: number;
  /** CREATE2 / EXTEND2 handshake data (CREATE_FAST: X, the CREATE_FAST cell's body). */
  readonly onionskin: Uint8Array;
  /**
   * Check the relay's reply (CREATED2 / EXTENDED2 handshake data; CREATED_FAST: Y | KH) and give
   * the hop's keys. Throws HandshakeError when the relay did not prove what the handshake asks.
   */
  finish(reply: Uint8Array): HopKeyMaterial;
}

export interface ClientHandshake extends HandshakeSide {
  start(target: HandshakeTarget, opts?: { random?: RandomBytes }): StartedHandshake;
}

/** What a relay answers onionskins with. */
export interface RelayHandshakeKeys {
  /** 20-byte RSA identity digest (ntor binds the handshake to it). */
  readonly identity: Uint8Array;
  /** Current and still-accepted previous ntor onion keys; the onionskin picks one. */
  readonly onionKeys: readonly NtorKeyPair[];
  /** Curve25519 engine (node:crypto in the Node host); default: pure JavaScript. */
  readonly curve?: Curve25519;
}

export interface HandshakeAnswer {
  /** CREATED2 handshake data (CREATED_FAST: Y | KH, the cell's body). */
  readonly reply: Uint8Array;
  readonly keys: HopKeyMaterial;
}

export interface ServerHandshake extends HandshakeSide {
  /** Answer a client's onionskin. Throws HandshakeError when it is malformed or not for these keys. */
  respond(onionskin: Uint8Array, relay: RelayHandshakeKeys, opts?: { random?: RandomBytes }): HandshakeAnswer;
}
