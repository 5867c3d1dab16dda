import { Reader, Writer, openEnum, equalBytes } from '../bytes/index.ts';
import { ProtocolError, UsageError } from '../util/index.ts';
import { HsAuthKeyType, Introduce1, Introduce2, readLinkSpecifiers, writeLinkSpecifiers, RELAY_DATA_MAX, type CellExtension, type LinkSpecifier } from '../cells/index.ts';
import type { Curve25519, RandomBytes } from '../crypto/index.ts';
import {
  HS_NTOR_MIN_ENCRYPTED_LEN,
  HsNtorClient,
  HsNtorService,
  type HsNtorClientPending,
  type HsNtorIntroPoint,
  type HsNtorServiceKeys,
  type HsNtorServicePending,
} from './hs-ntor.ts';

/**
 * The encrypted part of INTRODUCE1/INTRODUCE2 (rend-spec-v3 [PROCESS_INTRO2]): what the client tells
 * the service through the introduction point (the rendezvous cookie, where the rendezvous point is
 * and its ntor key), and the cells built around it with hs-ntor.
 */

/** ONION_KEY_TYPE: how the service is to extend to the rendezvous point. */
export const OnionKeyType = openEnum({ NTOR: 1 });

/** Extensions inside the encrypted part (prop 324 congestion control, prop 327 proof of work). */
export const IntroduceExtType = openEnum({ CC_REQUEST: 1, PROOF_OF_WORK: 2 });

export const RENDEZVOUS_COOKIE_LEN = 20;
const NTOR_ONION_KEY_LEN = 32;
/**
 * tor pads the plaintext until the INTRODUCE1 body before CLIENT_PK, plus the plaintext, is at least
 * this long (hs_cell.h HS_CELL_INTRODUCE1_MIN_SIZE), so introductions from different clients look
 * alike; the hs-ntor test vector was made that way.
 */
export const INTRODUCE1_MIN_SIZE = 246;

export interface IntroducePlaintext {
  /** RENDEZVOUS_COOKIE: the value the client sent in ESTABLISH_RENDEZVOUS (20 bytes). */
  readonly rendezvousCookie: Uint8Array;
  readonly extensions: readonly CellExtension[];
  /** OnionKeyType; only NTOR is defined. */
  readonly onionKeyType: number;
  /** The rendezvous point's ntor onion key (32 bytes for NTOR). */
  readonly onionKey: Uint8Array;
  /** How to reach the rendezvous point, passed on verbatim in the service's EXTEND2. */
  readonly linkSpecifiers: readonly LinkSpecifier[];
}

const CONTEXT = 'INTRODUCE2 plaintext';

/** Encode the plaintext followed by `padding` zero bytes. */
export function encodeIntroducePlaintext(p: IntroducePlaintext, padding = 0): Uint8Array {
  if (p.rendezvousCookie.length !== RENDEZVOUS_COOKIE_LEN) throw new UsageError(`rendezvous cookie must be ${RENDEZVOUS_COOKIE_LEN} bytes`);
  if (p.onionKeyType === OnionKeyType.NTOR && p.onionKey.length !== NTOR_ONION_KEY_LEN) {
    throw new UsageError(`ntor onion key must be ${NTOR_ONION_KEY_LEN} bytes, got ${p.onionKey.length}`);
  }
  if (p.extensions.length > 0xff) throw new UsageError('at most 255 extensions');
  if (p.linkSpecifiers.length > 0xff) throw new UsageError('at most 255 link specifiers');
  if (!Number.isInteger(padding) || padding < 0) throw new UsageError(`padding must be a non-negative integer, got ${padding}`);
  const w = new Writer(256).bytes(p.rendezvousCookie).u8(p.extensions.length);
  for (const e of p.extensions) w.u8(e.type).lenU8(e.body);
  w.u8(p.onionKeyType).lenU16(p.onionKey);
  writeLinkSpecifiers(w, p.linkSpecifiers);
  return w.zeros(padding).finish();
}

/** Decode a decrypted INTRODUCE2 plaintext; whatever follows the link specifiers is padding. */
export function decodeIntroducePlaintext(data: Uint8Array): IntroducePlaintext {
  const r = new Reader(data, CONTEXT);
  const rendezvousCookie = r.bytesN(RENDEZVOUS_COOKIE_LEN, 'rendezvous cookie').slice();
  const n = r.u8('extension count');
  const extensions: CellExtension[] = [];
  for (let i = 0; i < n; i++) {
    const type = r.u8('extension type');
    extensions.push({ type, body: r.lenU8('extension body').slice() });
  }
  const onionKeyType = r.u8('onion key type');
  const keyAt = r.offset;
  const onionKey = r.lenU16('onion key').slice();
  if (onionKeyType === OnionKeyType.NTOR && onionKey.length !== NTOR_ONION_KEY_LEN) {
    throw new ProtocolError(CONTEXT, `ntor onion key must be ${NTOR_ONION_KEY_LEN} bytes, got ${onionKey.length}`, keyAt);
  }
  const linkSpecifiers = readLinkSpecifiers(r);
  return { rendezvousCookie, extensions, onionKeyType, onionKey, linkSpecifiers };
}

const LEGACY_KEY_ID = new Uint8Array(20);

/** What a client puts into INTRODUCE1. */
export interface Introduce1Request {
  /** The introduction point's AUTH_KEY and the service's B from the descriptor, and the subcredential. */
  readonly introPoint: HsNtorIntroPoint;
  /** The cookie already set on the rendezvous point with ESTABLISH_RENDEZVOUS. */
  readonly rendezvousCookie: Uint8Array;
  /** The rendezvous point: all its link specifiers (IPv4, RSA id, Ed25519 id, IPv6) and ntor key. */
  readonly rendezvousPoint: { readonly linkSpecifiers: readonly LinkSpecifier[]; readonly onionKey: Uint8Array };
  /** Extensions for the service, inside the encryption (IntroduceExtType). */
  readonly extensions?: readonly CellExtension[];
  /** Extensions the introduction point reads (none are defined for clients today). */
  readonly cleartextExtensions?: readonly CellExtension[];
  readonly random?: RandomBytes;
  /** For test vectors only. */
  readonly ephemeralSecret?: Uint8Array;
  readonly curve?: Curve25519;
}

/**
 * Client: build INTRODUCE1 with hs-ntor, the plaintext padded as tor pads it. Returns the message
 * (`body`, ready for the introduction circuit's last hop) and the handshake state that RENDEZVOUS2's
 * HANDSHAKE_INFO completes.
 */
export function buildIntroduce1(req: Introduce1Request): { body: Introduce1; pending: HsNtorClientPending } {
  const plaintext: IntroducePlaintext = {
    rendezvousCookie: req.rendezvousCookie,
    extensions: req.extensions ?? [],
    onionKeyType: OnionKeyType.NTOR,
    onionKey: req.rendezvousPoint.onionKey,
    linkSpecifiers: req.rendezvousPoint.linkSpecifiers,
  };
  const cleartext = req.cleartextExtensions ?? [];
  const header = new Introduce1(LEGACY_KEY_ID, HsAuthKeyType.ED25519, req.introPoint.authKey, cleartext, new Uint8Array(0)).headerBytes();
  const bare = encodeIntroducePlaintext(plaintext);
  const padding = Math.max(0, INTRODUCE1_MIN_SIZE - header.length - bare.length);
  const encoded = padding === 0 ? bare : encodeIntroducePlaintext(plaintext, padding);
  const total = header.length + HS_NTOR_MIN_ENCRYPTED_LEN + encoded.length;
  if (total > RELAY_DATA_MAX) throw new UsageError(`INTRODUCE1 would be ${total} bytes, more than a relay message holds (${RELAY_DATA_MAX})`);
  const { encrypted, pending } = HsNtorClient.start(req.introPoint, header, encoded, { random: req.random, ephemeralSecret: req.ephemeralSecret, curve: req.curve });
  return { body: new Introduce1(LEGACY_KEY_ID, HsAuthKeyType.ED25519, req.introPoint.authKey.slice(), cleartext, encrypted), pending };
}

/**
 * Service: check an INTRODUCE2 that arrived on the introduction circuit for `keys.authKey`, verify
 * its MAC and decrypt it. Throws ProtocolError for a cell not meant for this introduction point or
 * with an unusable plaintext, HandshakeError if the MAC fails. Before `pending.respond()`, the
 * caller must check its replay cache (rend-spec-v3 [PROCESS_INTRO2]).
 */
export function openIntroduce2(
  keys: HsNtorServiceKeys,
  body: Uint8Array | Introduce2,
  opts: { curve?: Curve25519 } = {},
): { message: Introduce2; plaintext: IntroducePlaintext; pending: HsNtorServicePending } {
  const message = body instanceof Introduce2 ? body : Introduce2.decode(body);
  // The MAC covers the bytes as sent; re-encoding gives the same bytes, as every length is explicit.
  const header = body instanceof Uint8Array ? body.subarray(0, body.length - message.encrypted.length) : message.headerBytes();
  if (!message.legacyKeyId.every((b) => b === 0)) throw new ProtocolError('INTRODUCE2 message', 'legacy (v2) introduction, LEGACY_KEY_ID is not zero', 0);
  if (message.authKeyType !== HsAuthKeyType.ED25519) {
    throw new ProtocolError('INTRODUCE2 message', `AUTH_KEY_TYPE ${HsAuthKeyType.nameOf(message.authKeyType)} is not Ed25519`, 20);
  }
  if (!equalBytes(message.authKey, keys.authKey)) throw new ProtocolError('INTRODUCE2 message', 'AUTH_KEY is not this introduction point\'s', 23);
  const { plaintext: decrypted, pending } = HsNtorService.open(keys, header, message.encrypted, opts);
  const plaintext = decodeIntroducePlaintext(decrypted);
  if (plaintext.onionKeyType !== OnionKeyType.NTOR) {
    throw new ProtocolError(CONTEXT, `onion key type ${OnionKeyType.nameOf(plaintext.onionKeyType)} is not supported`);
  }
  return { message, plaintext, pending };
}
