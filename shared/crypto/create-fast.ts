import { HandshakeError, UsageError } from '../util/index.ts';
import { concatBytes, equalBytesConstantTime } from '../bytes/index.ts';
import { kdfTor } from './kdf.ts';
import { secureRandomBytes, type RandomBytes } from './ntor.ts';
import { TOR1_HOP_KEY_MATERIAL_LEN, TOR1_KEY_MATERIAL_LEN, tor1HopKeyMaterial } from './circuit-keys.ts';
import type { ClientHandshake, ServerHandshake } from './handshake.ts';

/**
 * CREATE_FAST / CREATED_FAST (tor-spec "CREATE_FAST/CREATED_FAST cells"): a first hop handshake
 * with no public-key crypto, safe only because the TLS link already authenticated the relay.
 * Telescope accepts it as a relay but never sends it by default (ntor on every hop).
 * K = KDF-TOR(X | Y); KH = K[0..20] proves the relay saw X; key material starts at K[20].
 */
export const CREATE_FAST_KEY_LEN = 20;
/** Its number among handshake types (tor's ONION_HANDSHAKE_TYPE_FAST); never valid inside CREATE2. */
export const CREATE_FAST_HANDSHAKE_TYPE = 0x0001;

export class CreateFastClientPending {
  /** @internal use CreateFastClient.start */
  constructor(private readonly x: Uint8Array) {}

  /** Check CREATED_FAST's Y | KH and return `keyLength` bytes of key material. */
  finish(y: Uint8Array, kh: Uint8Array, keyLength = TOR1_KEY_MATERIAL_LEN): Uint8Array {
    if (y.length !== CREATE_FAST_KEY_LEN || kh.length !== 20) throw new HandshakeError('CREATE_FAST', 'Y and KH must be 20 bytes each');
    const k = kdfTor(concatBytes(this.x, y), 20 + keyLength);
    if (!equalBytesConstantTime(k.subarray(0, 20), kh)) throw new HandshakeError('CREATE_FAST', 'KH does not match the derived key hash');
    return k.slice(20);
  }
}

export const CreateFastClient = {
  /** `x` is for test vectors; normally 20 fresh random bytes. */
  start(opts: { random?: RandomBytes; x?: Uint8Array } = {}): { x: Uint8Array; pending: CreateFastClientPending } {
    const x = opts.x ?? (opts.random ?? secureRandomBytes)(CREATE_FAST_KEY_LEN);
    if (x.length !== CREATE_FAST_KEY_LEN) throw new UsageError(`CREATE_FAST: X must be ${CREATE_FAST_KEY_LEN} bytes`);
    return { x, pending: new CreateFastClientPending(x.slice()) };
  },
};

/** The relay side: answer X with Y and KH, and derive the same key material. */
export function createFastServerHandshake(
  x: Uint8Array,
  opts: { random?: RandomBytes; y?: Uint8Array; keyLength?: number } = {},
): { y: Uint8Array; kh: Uint8Array; keyMaterial: Uint8Array } {
  if (x.length !== CREATE_FAST_KEY_LEN) throw new HandshakeError('CREATE_FAST', `X must be ${CREATE_FAST_KEY_LEN} bytes, got ${x.length}`);
  const y = opts.y ?? (opts.random ?? secureRandomBytes)(CREATE_FAST_KEY_LEN);
  const k = kdfTor(concatBytes(x, y), 20 + (opts.keyLength ?? TOR1_KEY_MATERIAL_LEN));
  return { y, kh: k.slice(0, 20), keyMaterial: k.slice(20) };
}

/** CREATE_FAST as a circuit handshake, client side: the onionskin is X, the reply Y | KH. */
export const createFastClientSide: ClientHandshake = {
  handshakeType: CREATE_FAST_HANDSHAKE_TYPE,
  name: 'CREATE_FAST',
  carrier: 'create-fast',
  start(_target, opts = {}) {
    const { x, pending } = CreateFastClient.start(opts);
    return {
      handshakeType: CREATE_FAST_HANDSHAKE_TYPE,
      onionskin: x,
      finish: (reply) => tor1HopKeyMaterial(pending.finish(reply.subarray(0, 20), reply.subarray(20), TOR1_HOP_KEY_MATERIAL_LEN)),
    };
  },
};

/** CREATE_FAST as a circuit handshake, relay side (the relay's keys play no part). */
export const createFastServerSide: ServerHandshake = {
  handshakeType: CREATE_FAST_HANDSHAKE_TYPE,
  name: 'CREATE_FAST',
  carrier: 'create-fast',
  respond(x, _relay, opts = {}) {
    const r = createFastServerHandshake(x, { ...opts, keyLength: TOR1_HOP_KEY_MATERIAL_LEN });
    return { reply: concatBytes(r.y, r.kh), keys: tor1HopKeyMaterial(r.keyMaterial) };
  },
};
