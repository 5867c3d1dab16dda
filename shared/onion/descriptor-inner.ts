import { Reader, Writer, equalBytes, fromBase64, toBase64 } from '../bytes/index.ts';
import { CertificateError, UsageError } from '../util/index.ts';
import { CertType, readLinkSpecifiers, writeLinkSpecifiers, type LinkSpecifier } from '../cells/index.ts';
import { CertKeyType, UnverifiedEd25519Cert, type ValidEd25519Cert } from '../crypto/index.ts';
import {
  encodeNetdoc,
  expectNoObject,
  expectObject,
  itemError,
  needArgs,
  parseBase64Field,
  parseIntField,
  tokenize,
  UINT32_MAX,
  type NetdocItem,
  type NetdocItemInput,
} from '../netdoc/index.ts';
import { curve25519ToEd25519Public, makeEd25519Cert, unpadPlaintext, type Ed25519Signer } from './descriptor-crypto.ts';
import { DescriptorError, malformedOnError } from './descriptor-error.ts';

/**
 * The second-layer plaintext ("inner layer", rend-spec-v3 [HS-DESC-SECOND-LAYER]): how to reach the
 * service, i.e. its introduction points and the keys for INTRODUCE1, plus service options.
 */

const CONTEXT = 'onion-service descriptor (second layer plaintext)';
const CERT_LABEL = 'ED25519 CERT';
/** CREATE2 handshake type of ntor, which every service must offer. */
export const HTYPE_NTOR = 2;
/** rend-spec [NUM_INTRO_POINT]: at most 20. Extra ones are dropped, not refused (future growth). */
export const MAX_INTRO_POINTS = 20;

/** "flow-control" (prop 324): FlowCtrl protocol versions the service speaks, and its SENDME increment. */
export interface FlowControl {
  readonly versions: string;
  readonly sendmeInc: number;
}

/** "pow-params v1" (prop 327 / hspow-spec): Equi-X proof-of-work parameters. */
export interface PowParamsV1 {
  readonly type: 'v1';
  readonly seed: Uint8Array;
  readonly suggestedEffort: number;
  /** The seed is no good after this. */
  readonly expires: Date;
}

export interface IntroPoint {
  /** How to reach the introduction point; sent verbatim (same order) in EXTEND2. */
  readonly linkSpecifiers: readonly LinkSpecifier[];
  /** The introduction point relay's ntor onion key. */
  readonly onionKey: Uint8Array;
  /** KP_hs_ipt_sid, the key INTRODUCE1 names (the certified key of the auth-key cert). */
  readonly authKey: Uint8Array;
  readonly authKeyCert: UnverifiedEd25519Cert;
  /** KP_hss_ntor, the service's curve25519 key for the hs-ntor handshake. */
  readonly encKey: Uint8Array;
  readonly encKeyCert: UnverifiedEd25519Cert;
}

export interface InnerLayer {
  /** CREATE2 handshake types the service accepts (always includes ntor, 2). */
  readonly create2Formats: readonly number[];
  /** Introduction-layer authentication types required, if any ("ed25519"). */
  readonly introAuthRequired: readonly string[] | undefined;
  readonly singleOnionService: boolean;
  readonly flowControl: FlowControl | undefined;
  /** Known PoW schemes offered (unknown schemes are skipped). */
  readonly powParams: readonly PowParamsV1[];
  /**
   * May be empty: rend-spec allows 0 intro points for a service that is up but not accepting
   * connections; the client should say so rather than treat the descriptor as broken.
   */
  readonly introPoints: readonly IntroPoint[];
}

const HEADER_KEYWORDS = new Set(['create2-formats', 'intro-auth-required', 'single-onion-service', 'flow-control', 'pow-params']);

/** Syntax only: certificates are decoded but not checked (see checkInnerLayerCerts). */
export function parseInnerLayer(plaintext: string | Uint8Array): InnerLayer {
  const bytes = typeof plaintext === 'string' ? new TextEncoder().encode(plaintext) : plaintext;
  const items = malformedOnError('second layer plaintext', () => tokenize(unpadPlaintext(bytes), { context: CONTEXT }));
  return malformedOnError('second layer plaintext', () => {
    const firstIntro = items.findIndex((i) => i.keyword === 'introduction-point');
    const header = firstIntro < 0 ? items : items.slice(0, firstIntro);
    const sections: NetdocItem[][] = [];
    if (firstIntro >= 0) {
      for (const item of items.slice(firstIntro)) {
        if (item.keyword === 'introduction-point') sections.push([item]);
        else if (HEADER_KEYWORDS.has(item.keyword)) throw itemError(CONTEXT, item, 'belongs before the first introduction-point');
        else sections[sections.length - 1]!.push(item);
      }
    }
    const layer = parseHeader(header);
    const introPoints = sections.slice(0, MAX_INTRO_POINTS).map(parseIntroPoint);
    return { ...layer, introPoints };
  });
}

function parseHeader(items: readonly NetdocItem[]): Omit<InnerLayer, 'introPoints'> {
  const seen = new Map<string, NetdocItem>();
  const once = (item: NetdocItem): void => {
    if (seen.has(item.keyword)) throw itemError(CONTEXT, item, 'appears more than once');
    seen.set(item.keyword, item);
  };
  let create2Formats: number[] | undefined;
  let introAuthRequired: string[] | undefined;
  let singleOnionService = false;
  let flowControl: FlowControl | undefined;
  const powParams: PowParamsV1[] = [];
  for (const item of items) {
    switch (item.keyword) {
      case 'create2-formats':
        once(item);
        expectNoObject(CONTEXT, item);
        create2Formats = needArgs(CONTEXT, item, 1).map((a) => parseIntField(CONTEXT, item, a, 'handshake type', 0, 0xffff));
        if (!create2Formats.includes(HTYPE_NTOR)) throw itemError(CONTEXT, item, 'the service does not offer the ntor handshake (2)');
        break;
      case 'intro-auth-required':
        once(item);
        expectNoObject(CONTEXT, item);
        introAuthRequired = [...needArgs(CONTEXT, item, 1)];
        break;
      case 'single-onion-service':
        once(item);
        expectNoObject(CONTEXT, item);
        singleOnionService = true;
        break;
      case 'flow-control': {
        once(item);
        expectNoObject(CONTEXT, item);
        const [versions, inc] = needArgs(CONTEXT, item, 2);
        if (!/^[0-9]{1,5}(-[0-9]{1,5})?(,[0-9]{1,5}(-[0-9]{1,5})?)*$/.test(versions!)) throw itemError(CONTEXT, item, `"${versions!.slice(0, 30)}" is not a version range`);
        flowControl = { versions: versions!, sendmeInc: parseIntField(CONTEXT, item, inc!, 'sendme-inc', 0, 255) };
        break;
      }
      case 'pow-params': {
        const scheme = needArgs(CONTEXT, item, 1)[0]!;
        // Only known schemes are checked: a newer service may offer schemes this client does not
        // know, possibly with objects or repeated, and that must not break the descriptor.
        if (scheme !== 'v1') break;
        if (powParams.length > 0) throw itemError(CONTEXT, item, 'pow-params v1 appears more than once');
        expectNoObject(CONTEXT, item);
        powParams.push(parsePowV1(item));
        break;
      }
      case 'introduction-point':
        break; // not in the header by construction
      default:
        if (item.keyword === 'onion-key' || item.keyword === 'auth-key' || item.keyword === 'enc-key' || item.keyword === 'enc-key-cert') {
          throw itemError(CONTEXT, item, 'outside an introduction-point section');
        }
        break; // unknown items are ignored
    }
  }
  if (!create2Formats) throw new DescriptorError('malformed', 'missing "create2-formats"');
  return { create2Formats, introAuthRequired, singleOnionService, flowControl, powParams };
}

function parsePowV1(item: NetdocItem): PowParamsV1 {
  const [, seedText, effortText, expiresText] = needArgs(CONTEXT, item, 4);
  const seed = parseBase64Field(CONTEXT, item, seedText!, 'PoW seed', 32);
  const suggestedEffort = parseIntField(CONTEXT, item, effortText!, 'suggested effort', 0, UINT32_MAX);
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(expiresText!);
  if (!m) throw itemError(CONTEXT, item, `expiration "${expiresText!.slice(0, 30)}" is not YYYY-MM-DDTHH:MM:SS`);
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const expires = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (expires.getUTCFullYear() !== y || expires.getUTCMonth() !== mo - 1 || expires.getUTCDate() !== d || expires.getUTCHours() !== h || expires.getUTCMinutes() !== mi || expires.getUTCSeconds() !== s) {
    throw itemError(CONTEXT, item, `expiration "${expiresText}" is not a valid time`);
  }
  return { type: 'v1', seed, suggestedEffort, expires };
}

function parseIntroPoint(section: readonly NetdocItem[]): IntroPoint {
  const head = section[0]!;
  expectNoObject(CONTEXT, head);
  let block: Uint8Array;
  try {
    block = fromBase64(needArgs(CONTEXT, head, 1)[0]!);
  } catch (e) {
    throw new DescriptorError('malformed', `line ${head.line}: link specifiers are not base64`, head.start, { cause: e });
  }
  const r = new Reader(block, 'introduction-point link specifiers');
  const linkSpecifiers = readLinkSpecifiers(r);
  r.shouldBeExhausted();

  let onionKey: Uint8Array | undefined;
  let encKey: Uint8Array | undefined;
  let authKeyCert: UnverifiedEd25519Cert | undefined;
  let encKeyCert: UnverifiedEd25519Cert | undefined;
  for (const item of section.slice(1)) {
    switch (item.keyword) {
      case 'onion-key':
      case 'enc-key': {
        const [type, key] = needArgs(CONTEXT, item, 1);
        if (type !== 'ntor') break; // other key types: ignored, as rend-spec says
        expectNoObject(CONTEXT, item);
        if (key === undefined) throw itemError(CONTEXT, item, 'ntor key missing');
        const parsed = parseBase64Field(CONTEXT, item, key, 'ntor key', 32);
        if (item.keyword === 'onion-key') {
          if (onionKey) throw itemError(CONTEXT, item, 'second ntor onion-key in one introduction point');
          onionKey = parsed;
        } else {
          if (encKey) throw itemError(CONTEXT, item, 'second ntor enc-key in one introduction point');
          encKey = parsed;
        }
        break;
      }
      case 'auth-key':
        if (authKeyCert) throw itemError(CONTEXT, item, 'appears more than once in one introduction point');
        authKeyCert = UnverifiedEd25519Cert.decode(expectObject(CONTEXT, item, [CERT_LABEL]));
        break;
      case 'enc-key-cert':
        if (encKeyCert) throw itemError(CONTEXT, item, 'appears more than once in one introduction point');
        encKeyCert = UnverifiedEd25519Cert.decode(expectObject(CONTEXT, item, [CERT_LABEL]));
        break;
      default:
        break; // legacy-key, legacy-key-cert (obsolete) and unknown items are ignored
    }
  }
  const where = `introduction point at line ${head.line}`;
  if (!onionKey) throw new DescriptorError('malformed', `${where}: no ntor onion-key`, head.start);
  if (!authKeyCert) throw new DescriptorError('malformed', `${where}: no auth-key`, head.start);
  if (!encKey) throw new DescriptorError('malformed', `${where}: no ntor enc-key`, head.start);
  if (!encKeyCert) throw new DescriptorError('malformed', `${where}: no enc-key-cert`, head.start);
  return { linkSpecifiers, onionKey, authKey: authKeyCert.unchecked.certifiedKey, authKeyCert, encKey, encKeyCert };
}

/**
 * The checks C tor makes on each introduction point's certificates: auth-key is a type 09 and
 * enc-key-cert a type 0B certificate, each naming and signed by the descriptor signing key and
 * valid at `now`; enc-key-cert certifies the Ed25519 form (sign bit 0) of the ntor enc-key.
 * (Both certificates point the "wrong way" for historical reasons; see rend-spec.)
 */
export function checkInnerLayerCerts(inner: InnerLayer, signingKey: Uint8Array, now: Date): void {
  inner.introPoints.forEach((ip, i) => {
    const what = `introduction point ${i + 1}`;
    checkIntroCert(ip.authKeyCert, CertType.HS_IP_V_SIGNING, signingKey, now, `${what} auth-key`);
    const encKeyCert = checkIntroCert(ip.encKeyCert, CertType.HS_IP_CC_SIGNING, signingKey, now, `${what} enc-key-cert`);
    // C tor and arti make and expect sign bit 0; the sign bit is ignored here since it carries
    // nothing (the certificate points the wrong way and is never used to verify anything).
    const expected = curve25519ToEd25519Public(ip.encKey);
    const certified = encKeyCert.certifiedKey.slice();
    certified[31]! &= 0x7f;
    if (!expected || !equalBytes(expected, certified)) throw new DescriptorError('bad-cert', `${what} enc-key-cert does not certify its enc-key`);
  });
}

function checkIntroCert(cert: UnverifiedEd25519Cert, type: number, signingKey: Uint8Array, now: Date, what: string): ValidEd25519Cert {
  if (cert.unchecked.certType !== type) throw new DescriptorError('bad-cert', `${what} has certificate type ${cert.unchecked.certType}, expected ${type}`);
  if (cert.unchecked.certKeyType !== CertKeyType.ED25519) throw new DescriptorError('bad-cert', `${what} certifies key type ${cert.unchecked.certKeyType}, expected Ed25519`);
  const named = cert.unchecked.signingKeyFromExtension;
  if (!named) throw new DescriptorError('bad-cert', `${what} lacks the signed-with-key extension`);
  if (!equalBytes(named, signingKey)) throw new DescriptorError('bad-cert', `${what} is not signed by the descriptor signing key`);
  let checked;
  try {
    checked = cert.check(signingKey);
  } catch (e) {
    if (e instanceof CertificateError) throw new DescriptorError('bad-cert', `${what}: ${e.message}`, undefined, { cause: e });
    throw e;
  }
  try {
    return checked.checkValidAt(now);
  } catch (e) {
    if (e instanceof CertificateError) throw new DescriptorError('expired-cert', `${what}: ${e.message}`, undefined, { cause: e });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Building (the service side).

export interface IntroPointInput {
  readonly linkSpecifiers: readonly LinkSpecifier[];
  readonly onionKey: Uint8Array;
  readonly authKey: Uint8Array;
  readonly encKey: Uint8Array;
}

export interface InnerLayerInput {
  /** Defaults to [2] (ntor). */
  readonly create2Formats?: readonly number[];
  readonly introAuthRequired?: readonly string[];
  readonly singleOnionService?: boolean;
  readonly flowControl?: FlowControl;
  readonly powParams?: readonly PowParamsV1[];
  readonly introPoints: readonly IntroPointInput[];
}

export interface InnerCertSigner {
  /** The descriptor signing key and a signer for it: it signs auth-key and enc-key-cert. */
  readonly signingKey: Uint8Array;
  readonly sign: Ed25519Signer;
  readonly certExpires: Date;
}

function isoNoSpace(d: Date): string {
  return d.toISOString().slice(0, 19);
}

export function encodeInnerLayer(input: InnerLayerInput, signer: InnerCertSigner): string {
  if (input.introPoints.length > MAX_INTRO_POINTS) throw new UsageError(`at most ${MAX_INTRO_POINTS} introduction points`);
  const create2 = input.create2Formats ?? [HTYPE_NTOR];
  if (!create2.includes(HTYPE_NTOR)) throw new UsageError('create2-formats must include ntor (2)');
  const items: NetdocItemInput[] = [{ keyword: 'create2-formats', args: create2.map(String) }];
  if (input.introAuthRequired?.length) items.push({ keyword: 'intro-auth-required', args: input.introAuthRequired });
  if (input.singleOnionService) items.push({ keyword: 'single-onion-service' });
  if (input.flowControl) items.push({ keyword: 'flow-control', args: [input.flowControl.versions, String(input.flowControl.sendmeInc)] });
  for (const p of input.powParams ?? []) {
    if (p.seed.length !== 32) throw new UsageError('PoW seed must be 32 bytes');
    items.push({ keyword: 'pow-params', args: [p.type, toBase64(p.seed, false), String(p.suggestedEffort), isoNoSpace(p.expires)] });
  }
  for (const ip of input.introPoints) {
    if (ip.onionKey.length !== 32 || ip.encKey.length !== 32 || ip.authKey.length !== 32) throw new UsageError('introduction point keys must be 32 bytes');
    const w = new Writer(64);
    writeLinkSpecifiers(w, ip.linkSpecifiers);
    const edEncKey = curve25519ToEd25519Public(ip.encKey);
    if (!edEncKey) throw new UsageError('enc-key has no Ed25519 form');
    const authCert = makeEd25519Cert(CertType.HS_IP_V_SIGNING, ip.authKey, signer.certExpires, signer.signingKey, signer.sign);
    const encCert = makeEd25519Cert(CertType.HS_IP_CC_SIGNING, edEncKey, signer.certExpires, signer.signingKey, signer.sign);
    items.push(
      { keyword: 'introduction-point', args: [toBase64(w.finish())] },
      { keyword: 'onion-key', args: ['ntor', toBase64(ip.onionKey)] },
      { keyword: 'auth-key', object: { label: CERT_LABEL, data: authCert.encode() } },
      { keyword: 'enc-key', args: ['ntor', toBase64(ip.encKey)] },
      { keyword: 'enc-key-cert', object: { label: CERT_LABEL, data: encCert.encode() } },
    );
  }
  return encodeNetdoc(items);
}
