import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes, toHex, utf8 } from '../bytes/index.ts';
import { EstablishIntro, HsAuthKeyType, type CellExtension } from '../cells/index.ts';
import { HandshakeError, UsageError } from '../util/index.ts';
import { hsMac } from './hs-ntor.ts';

/**
 * ESTABLISH_INTRO (rend-spec [EST_INTRO]) as a service sends it on the circuit to its introduction
 * point: the Ed25519 auth key, a MAC bound to the circuit's KH and a signature with that key; plus
 * the [EST_INTRO_DOS_EXT] extension asking the point to rate-limit INTRODUCE2.
 */

/** rend-spec [EST_INTRO]: SIG is made over this prefix and the cell up to SIG_LEN. */
const ESTABLISH_INTRO_SIG_PREFIX = utf8('Tor establish-intro cell v1');
/** [EST_INTRO_DOS_EXT] extension type and parameter types. */
export const EST_INTRO_DOS_EXTENSION = 1;
const DOS_PARAM_RATE = 1;
const DOS_PARAM_BURST = 2;
const DOS_PARAM_MAX = 0x7fffffff;

/** ESTABLISH_INTRO with an Ed25519 auth key, MACed with the circuit's KH and signed with the key. */
export function buildEstablishIntro(opts: {
  /** The 32-byte Ed25519 secret seed of the introduction point auth key (KS_hs_ipt_sid). */
  readonly authSecretKey: Uint8Array;
  /** KH of the circuit's last hop (the introduction point): Circuit.hopNonce. */
  readonly circuitNonce: Uint8Array;
  readonly extensions?: readonly CellExtension[];
}): EstablishIntro {
  if (opts.authSecretKey.length !== 32) throw new UsageError('introduction point auth key must be a 32-byte Ed25519 seed');
  if (opts.circuitNonce.length === 0) throw new UsageError('ESTABLISH_INTRO needs the circuit\'s KH (a virtual hop has none)');
  const authKey = ed25519.getPublicKey(opts.authSecretKey);
  const extensions = opts.extensions ?? [];
  const covered = new EstablishIntro(HsAuthKeyType.ED25519, authKey, extensions, new Uint8Array(32), new Uint8Array(0)).macCoveredBytes();
  const handshakeAuth = hsMac(opts.circuitNonce, covered);
  const signature = ed25519.sign(concatBytes(ESTABLISH_INTRO_SIG_PREFIX, covered, handshakeAuth), opts.authSecretKey);
  return new EstablishIntro(HsAuthKeyType.ED25519, authKey, extensions, handshakeAuth, signature);
}

/** Verify an ESTABLISH_INTRO as an introduction point does (tests; a relay-side intro point). */
export function verifyEstablishIntro(body: Uint8Array, circuitNonce: Uint8Array): EstablishIntro {
  const { msg, macCovered, signatureCovered } = EstablishIntro.decodeWithRanges(body);
  if (msg.authKeyType !== HsAuthKeyType.ED25519 || msg.authKey.length !== 32) throw new HandshakeError('ESTABLISH_INTRO', 'auth key is not Ed25519');
  const mac = hsMac(circuitNonce, macCovered);
  if (toHex(mac) !== toHex(msg.handshakeAuth)) throw new HandshakeError('ESTABLISH_INTRO', 'HANDSHAKE_AUTH does not match the circuit');
  let ok = false;
  try {
    ok = ed25519.verify(msg.signature, concatBytes(ESTABLISH_INTRO_SIG_PREFIX, signatureCovered), msg.authKey);
  } catch {
    ok = false; // a malformed key or signature is simply a bad signature
  }
  if (!ok) throw new HandshakeError('ESTABLISH_INTRO', 'signature does not verify with the auth key');
  return msg;
}

/**
 * [EST_INTRO_DOS_EXT]: ask the introduction point to pass on at most `rate` INTRODUCE2 per second
 * with bursts of `burst` (HSIntro=5 relays).
 */
export function dosExtension(rate: number, burst: number): CellExtension {
  for (const v of [rate, burst]) if (!Number.isSafeInteger(v) || v < 0 || v > DOS_PARAM_MAX) throw new UsageError(`DoS parameter ${v} is not in 0..${DOS_PARAM_MAX}`);
  if (burst < rate) throw new UsageError('the INTRODUCE2 burst cannot be below the rate (the introduction point would ignore both)');
  const body = new Uint8Array(1 + 2 * 9);
  const view = new DataView(body.buffer);
  body[0] = 2;
  body[1] = DOS_PARAM_RATE;
  view.setBigUint64(2, BigInt(rate));
  body[10] = DOS_PARAM_BURST;
  view.setBigUint64(11, BigInt(burst));
  return { type: EST_INTRO_DOS_EXTENSION, body };
}
