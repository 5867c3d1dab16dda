import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, toBase64, toHex, utf8 } from '../../shared/bytes/index.ts';
import { CertType } from '../../shared/cells/index.ts';
import { CertKeyType } from '../../shared/crypto/index.ts';
import { UsageError } from '../../shared/util/index.ts';
import { formatIp, parseIp } from '../../shared/addr/index.ts';
import { summarize, type ExitPolicy } from '../../shared/policy/index.ts';
import type { ProtocolList } from '../../shared/netdoc/index.ts';
import { TELESCOPE_RELAY_PROTOCOLS } from '../../shared/relay/index.ts';
import { ed25519FromCurve25519, issueEd25519Cert } from './ed25519-signer.ts';
import type { RelayKeys } from './keys.ts';

/**
 * The relay's signed server descriptor (dir-spec §2.1.1) and the microdescriptor the authorities
 * will derive from it (dir-spec §3.3), written the way tor 0.4.9 writes them: item order as in
 * descriptors of a running 0.4.9 network; a 0.4.9.11 authority accepts them (tor-interop.test.ts)
 * and votes exactly our `digest` and microdescriptor digest for them:
 *
 *   const d = buildServerDescriptor(keys, { nickname, address, orPort, published: now, uptimeSeconds,
 *     bandwidth: { average, burst, observed }, exitPolicy });
 *   d.text            // POST it to each authority at http://<auth>/tor/
 *   d.digest          // SHA-1 of the signed document: the descriptor digest votes carry
 *   buildMicrodescriptor(keys, input).text   // what clients will fetch for this relay
 *   microdescriptorFor(fields)               // the same from plain fields (any relay's descriptor)
 *
 * What goes in, and why:
 *   - identity-ed25519 (the type-4 signing-key certificate, with the master key in its extension),
 *     master-key-ed25519, router-sig-ed25519 (the signing key's signature of SHA-256 of
 *     "Tor router descriptor signature v1" ‖ the document up to "router-sig-ed25519 "), and
 *     router-signature (the RSA identity's PKCS#1 signature of the SHA-1 of the document through
 *     "router-signature\n") — all required since 0.4.5.
 *   - ntor-onion-key (base64, no padding) and ntor-onion-key-crosscert: a type-0x0A certificate of
 *     the master identity, signed by the Ed25519 form of the ntor key, with the sign bit of that key
 *     (dir-spec appendix C); it expires when the onion key is due for rotation.
 *   - onion-key and onion-key-crosscert: TAP is gone in 0.4.9, but 0.4.9 authorities still reject a
 *     descriptor without a TAP key ("Missing TAP key in descriptor"), and tor 0.4.9 relays still
 *     publish a never-used one. So do we (RelayKeys.tapOnionKey); `includeTapOnionKey: false`
 *     drops both items for authorities that no longer want them. The crosscert is the TAP key's
 *     raw PKCS#1 signature of SHA-1(RSA identity) ‖ Ed25519 identity (52 bytes, not hashed).
 *   - platform: what it is ("Telescope 0.1.0 on Node.js v22.12.0"). tor's authorities parse a
 *     version only from platforms starting with "Tor " (tor_version_parse_platform): any other
 *     string is a "nonstandard Tor", never rejected as an old version (dirserv_rejects_tor_version
 *     passes it), and its features are read from "proto" alone.
 *   - proto: exactly what Telescope's relay implements (TELESCOPE_RELAY_PROTOCOLS in shared/relay/,
 *     the same list its consensus check uses; see its comment).
 *   - exit policy: the IPv4 accept/reject rules; an "ipv6-policy" summary when IPv6 exits exist.
 */

export interface Bandwidth {
  /** Bytes per second the relay is willing to sustain. */
  readonly average: number;
  /** Bytes per second for short bursts. */
  readonly burst: number;
  /** Bytes per second actually observed (tor: the lesser of the 10-second peaks in and out, over 5 days). */
  readonly observed: number;
}

export interface ServerDescriptorInput {
  /** 1–19 characters [A-Za-z0-9]. */
  readonly nickname: string;
  /** Advertised IPv4 address. */
  readonly address: string;
  readonly orPort: number;
  /** 0 when the relay has no DirPort (the default; directory requests come over BEGIN_DIR). */
  readonly dirPort?: number;
  /** An additional IPv6 ORPort, published as "or-address [addr]:port". */
  readonly ipv6OrPort?: { readonly address: string; readonly port: number };
  readonly published: Date;
  readonly uptimeSeconds: number;
  readonly bandwidth: Bandwidth;
  readonly exitPolicy: ExitPolicy;
  /** Default TELESCOPE_PLATFORM. */
  readonly platform?: string;
  /** Default TELESCOPE_RELAY_PROTOCOLS. */
  readonly protocols?: ProtocolList;
  readonly contact?: string;
  /** "family" entries: $FINGERPRINT (optionally =nick / ~nick) or nicknames. */
  readonly family?: readonly string[];
  /** Publish "hidden-service-dir" (only if the relay stores v3 onion-service descriptors). */
  readonly hiddenServiceDir?: boolean;
  /** Publish "tunnelled-dir-server" (the relay answers BEGIN_DIR). */
  readonly tunnelledDirServer?: boolean;
  /** Publish the (unused) TAP onion key and its crosscert. Default true: 0.4.9 authorities require it. */
  readonly includeTapOnionKey?: boolean;
}

/** Telescope's version (package.json's, which a test keeps equal). */
export const TELESCOPE_VERSION = '0.1.0';

/** The descriptor's platform line: the software and the runtime it runs on, as tor's "Tor 0.4.9.3 on Linux". */
export const TELESCOPE_PLATFORM = `Telescope ${TELESCOPE_VERSION} on Node.js ${process.version}`;

export { TELESCOPE_RELAY_PROTOCOLS };

const ROUTER_SIG_PREFIX = utf8('Tor router descriptor signature v1');
const NICKNAME = /^[A-Za-z0-9]{1,19}$/;
const HEX_ID = /^\$[0-9A-Fa-f]{40}$/;
/** Printable ASCII; a descriptor is an ASCII document (the core's tokenizer refuses anything else). */
const PRINTABLE = /^[\x20-\x7e]*$/;

export interface ServerDescriptor {
  /** The whole signed document, ending with the RSA signature object and a newline. */
  readonly text: string;
  /** SHA-1 of the document from "router" through "router-signature\n": the descriptor digest. */
  readonly digest: Uint8Array;
  /** The same digest as 40 upper-case hex digits. */
  readonly digestHex: string;
}

function fail(what: string): never {
  throw new UsageError(`server descriptor: ${what}`);
}

function checkPort(port: number, what: string, allowZero: boolean): void {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) fail(`${what} ${port} is not a port`);
}

function checkCount(n: number, what: string): void {
  // tor reads these as 32-bit signed integers.
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) fail(`${what} ${n} is not an integer in 0..2^31-1`);
}

function line(s: string, what: string): string {
  if (!PRINTABLE.test(s)) fail(`${what} must be printable ASCII on one line`);
  return s.trim();
}

function pemObject(label: string, der: Uint8Array): string {
  const b64 = toBase64(der);
  let out = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return `${out}-----END ${label}-----\n`;
}

function formatTime(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

function groupedFingerprint(hex: string): string {
  return hex.match(/.{4}/g)!.join(' ');
}

function checkFamilyEntry(e: string): void {
  if (NICKNAME.test(e)) return;
  if (/^\$[0-9A-Fa-f]{40}([=~][A-Za-z0-9]{1,19})?$/.test(e)) return;
  fail(`family entry "${e}" is neither a nickname nor $FINGERPRINT`);
}

function validate(input: ServerDescriptorInput): void {
  if (!NICKNAME.test(input.nickname)) fail(`nickname "${input.nickname}" must be 1-19 letters and digits`);
  const v4 = parseIp(input.address);
  if (!v4 || v4.family !== 4) fail(`address "${input.address}" is not an IPv4 address`);
  checkPort(input.orPort, 'ORPort', false);
  checkPort(input.dirPort ?? 0, 'DirPort', true);
  if (input.ipv6OrPort) {
    const v6 = parseIp(input.ipv6OrPort.address);
    if (!v6 || v6.family !== 6) fail(`"${input.ipv6OrPort.address}" is not an IPv6 address`);
    checkPort(input.ipv6OrPort.port, 'IPv6 ORPort', false);
  }
  const y = input.published.getUTCFullYear();
  if (!Number.isFinite(input.published.getTime()) || y < 1970 || y > 9999) fail('published time is invalid');
  checkCount(input.uptimeSeconds, 'uptime');
  checkCount(input.bandwidth.average, 'bandwidth average');
  checkCount(input.bandwidth.burst, 'bandwidth burst');
  checkCount(input.bandwidth.observed, 'bandwidth observed');
  if ((input.protocols ?? TELESCOPE_RELAY_PROTOCOLS).isEmpty) fail('the protocol list is empty');
  for (const e of input.family ?? []) checkFamilyEntry(e);
}

/** Build and sign the server descriptor. Throws UsageError for input tor would not publish. */
export function buildServerDescriptor(keys: RelayKeys, input: ServerDescriptorInput): ServerDescriptor {
  validate(input);
  const includeTap = input.includeTapOnionKey ?? true;
  const ntor = keys.ntorKey;
  const ntorCross = ed25519FromCurve25519(ntor.secret);
  const ntorCrossCert = issueEd25519Cert(
    {
      certType: CertType.NTOR_CC_IDENTITY,
      certKeyType: CertKeyType.ED25519,
      certifiedKey: keys.ed25519Identity,
      expires: new Date(input.published.getTime() + keys.policy.onionKeyRotationMs),
    },
    ntorCross.signer,
  );

  let d = '';
  d += `router ${input.nickname} ${input.address} ${input.orPort} 0 ${input.dirPort ?? 0}\n`;
  d += `identity-ed25519\n${pemObject('ED25519 CERT', keys.signing.cert.encode())}`;
  d += `master-key-ed25519 ${toBase64(keys.ed25519Identity, false)}\n`;
  if (input.ipv6OrPort) d += `or-address [${formatIp(parseIp(input.ipv6OrPort.address)!)}]:${input.ipv6OrPort.port}\n`;
  d += `platform ${line(input.platform ?? TELESCOPE_PLATFORM, 'platform')}\n`;
  d += `proto ${(input.protocols ?? TELESCOPE_RELAY_PROTOCOLS).toString()}\n`;
  d += `published ${formatTime(input.published)}\n`;
  d += `fingerprint ${groupedFingerprint(keys.fingerprint)}\n`;
  d += `uptime ${input.uptimeSeconds}\n`;
  d += `bandwidth ${input.bandwidth.average} ${input.bandwidth.burst} ${input.bandwidth.observed}\n`;
  if (includeTap) d += `onion-key\n${pemObject('RSA PUBLIC KEY', keys.tapOnionKey.publicDer)}`;
  d += `signing-key\n${pemObject('RSA PUBLIC KEY', keys.identity.publicDer)}`;
  if (includeTap) {
    const crossSigned = concatBytes(keys.rsaIdentityDigest, keys.ed25519Identity);
    d += `onion-key-crosscert\n${pemObject('CROSSCERT', keys.tapOnionKey.signRawDigest(crossSigned))}`;
  }
  d += `ntor-onion-key-crosscert ${ntorCross.signBit}\n${pemObject('ED25519 CERT', ntorCrossCert.encode())}`;
  if (input.family && input.family.length > 0) d += `family ${input.family.join(' ')}\n`;
  if (input.hiddenServiceDir) d += 'hidden-service-dir\n';
  if (input.contact !== undefined) d += `contact ${line(input.contact, 'contact')}\n`;
  d += `ntor-onion-key ${toBase64(ntor.public, false)}\n`;
  for (const rule of input.exitPolicy.descriptorLines()) d += `${rule}\n`;
  const v6 = summarize(input.exitPolicy, 6);
  if (!v6.rejectsAll()) d += `ipv6-policy ${v6.toString()}\n`;
  if (input.tunnelledDirServer) d += 'tunnelled-dir-server\n';

  d += 'router-sig-ed25519 ';
  const edDigest = sha256(concatBytes(ROUTER_SIG_PREFIX, utf8(d)));
  d += `${toBase64(keys.signing.signer.sign(edDigest), false)}\n`;
  d += 'router-signature\n';
  const digest = sha1(utf8(d));
  d += pemObject('SIGNATURE', keys.identity.signRawDigest(digest));
  if (d.length > 20_000) fail(`descriptor is ${d.length} bytes; authorities reject more than 20000`);
  return { text: d, digest, digestHex: toHex(digest).toUpperCase() };
}

/** What a microdescriptor is made of: fields of the server descriptor. */
export interface MicrodescriptorFields {
  /** PKCS#1 DER of the TAP onion key, when the descriptor publishes one. */
  readonly tapOnionKey?: Uint8Array;
  readonly ntorOnionKey: Uint8Array;
  readonly ed25519Identity: Uint8Array;
  /** Upper-case hex RSA fingerprint (the relay joins its own family). */
  readonly fingerprint: string;
  readonly exitPolicy: ExitPolicy;
  readonly family?: readonly string[];
}

export interface Microdescriptor {
  readonly text: string;
  /** SHA-256 of the text: what the consensus "m" line names. */
  readonly digest: Uint8Array;
  /** The digest as the "m" line writes it (base64, no padding). */
  readonly digestBase64: string;
}

/**
 * The microdescriptor authorities derive from a descriptor under the consensus methods tor 0.4.9
 * uses (34-35, as a 0.4.9 network serves them): onion-key (followed by the TAP key while one is
 * published, else alone: the item still marks the start), ntor-onion-key, the canonical family,
 * "p" and "p6" summaries (left out when they reject every port), and "id ed25519". There are no
 * "id rsa1024" or "pr" lines any more.
 */
export function microdescriptorFor(f: MicrodescriptorFields): Microdescriptor {
  for (const e of f.family ?? []) checkFamilyEntry(e);
  let m = 'onion-key\n';
  if (f.tapOnionKey) m += pemObject('RSA PUBLIC KEY', f.tapOnionKey);
  m += `ntor-onion-key ${toBase64(f.ntorOnionKey, false)}\n`;
  const family = canonicalFamily(f.family ?? [], f.fingerprint);
  if (family.length > 0) m += `family ${family.join(' ')}\n`;
  const p = summarize(f.exitPolicy, 4);
  if (!p.rejectsAll()) m += `p ${p.toString()}\n`;
  const p6 = summarize(f.exitPolicy, 6);
  if (!p6.rejectsAll()) m += `p6 ${p6.toString()}\n`;
  m += `id ed25519 ${toBase64(f.ed25519Identity, false)}\n`;
  const digest = sha256(utf8(m));
  return { text: m, digest, digestBase64: toBase64(digest, false) };
}

/** The microdescriptor of this relay's descriptor built from the same input. */
export function buildMicrodescriptor(keys: RelayKeys, input: Pick<ServerDescriptorInput, 'exitPolicy' | 'family' | 'includeTapOnionKey'>): Microdescriptor {
  return microdescriptorFor({
    ...((input.includeTapOnionKey ?? true) ? { tapOnionKey: keys.tapOnionKey.publicDer } : {}),
    ntorOnionKey: keys.ntorKey.public,
    ed25519Identity: keys.ed25519Identity,
    fingerprint: keys.fingerprint,
    exitPolicy: input.exitPolicy,
    ...(input.family ? { family: input.family } : {}),
  });
}

/**
 * dir-spec §3.3 family canonicalization (consensus method 29+): drop "=name"/"~name" suffixes and
 * malformed $ids, lower-case nicknames, upper-case $ids, add the relay itself if anything is left,
 * sort (byte order) and remove duplicates.
 */
export function canonicalFamily(entries: readonly string[], ownFingerprint: string): string[] {
  const out = new Set<string>();
  for (const raw of entries) {
    if (raw.startsWith('$')) {
      const id = raw.replace(/[=~].*$/, '');
      if (HEX_ID.test(id)) out.add(id.toUpperCase());
    } else if (NICKNAME.test(raw)) {
      out.add(raw.toLowerCase());
    } else {
      out.add(raw);
    }
  }
  if (out.size > 0) out.add(`$${ownFingerprint.toUpperCase()}`);
  return [...out].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
