import { UsageError } from '../util/index.ts';
import { createFastClientSide } from './create-fast.ts';
import type { ClientHandshake } from './handshake.ts';
import { ntorClientSide } from './ntor.ts';

/**
 * The client sides of the circuit handshakes Telescope speaks, by CREATE2 handshake type. TAP (0)
 * is absent: tor 0.4.9 no longer answers it.
 */
const CLIENT_HANDSHAKES: ReadonlyMap<number, ClientHandshake> = new Map(
  // ntor-v3 (proposal 332, type 3) registers its client side here, from a file of its own.
  [createFastClientSide, ntorClientSide].map((h) => [h.handshakeType, h]),
);

/** The client side of handshake type `type`, or undefined when Telescope does not speak it. */
export function findClientHandshake(type: number): ClientHandshake | undefined {
  return CLIENT_HANDSHAKES.get(type);
}

/** The client side of handshake type `type`; a type Telescope does not speak is a caller's mistake. */
export function clientHandshake(type: number): ClientHandshake {
  const h = CLIENT_HANDSHAKES.get(type);
  if (!h) throw new UsageError(`no client side for circuit handshake type ${type}`);
  return h;
}
