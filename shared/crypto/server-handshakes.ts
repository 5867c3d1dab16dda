import { createFastServerSide } from './create-fast.ts';
import type { ServerHandshake } from './handshake.ts';
import { ntorServerSide } from './ntor.ts';

/**
 * The relay sides of the circuit handshakes a Telescope relay answers, by CREATE2 handshake type.
 * TAP (0) is absent, as in tor 0.4.9: a CREATE2 naming a type not here is refused (DESTROY
 * PROTOCOL), and so is one naming CREATE_FAST's type, which has a cell of its own.
 */
const SERVER_HANDSHAKES: ReadonlyMap<number, ServerHandshake> = new Map(
  // ntor-v3 (proposal 332, type 3) registers its relay side here, from a file of its own.
  [createFastServerSide, ntorServerSide].map((h) => [h.handshakeType, h]),
);

/** The relay side of handshake type `type`, or undefined when this relay does not answer it. */
export function findServerHandshake(type: number): ServerHandshake | undefined {
  return SERVER_HANDSHAKES.get(type);
}
