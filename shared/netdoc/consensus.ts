import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8 } from '../bytes/index.ts';
import { parseIp } from '../addr/index.ts';
import { CertificateError, ProtocolError, Unverified, UsageError, type ErrorKind } from '../util/index.ts';
import type { AuthCert } from './authcert.ts';
import { ProtocolList } from './protover.ts';
import {
  INT32_MAX,
  UINT32_MAX,
  documentText,
  expectObject,
  itemError,
  needArgs,
  parseBase64Field,
  parseHexField,
  parseIntField,
  parseIntPairs,
  parseTimeArgs,
  tokenize,
  type NetdocItem,
} from './netdoc.ts';

/**
 * The microdescriptor-flavoured consensus (dir-spec §3.4.1 and §3.9.2): the network's signed list
 * of relays, with per-relay microdescriptor digests. A client trusts it only when more than half
 * of its configured directory authorities signed it and the current time lies in its validity
 * interval (`UnverifiedConsensus.check`).
 */

const CONTEXT = 'microdesc consensus';

export interface SharedRandomValue {
  /** How many authority reveals went into the value. */
  readonly reveals: number;
  /** The 32-byte shared random value (onion-service HSDir ring uses it). */
  readonly value: Uint8Array;
}

export interface DirSource {
  readonly nickname: string;
  /** Upper-case hex v3 identity fingerprint of the authority. */
  readonly identity: string;
  readonly address: string;
  readonly ip: string;
  readonly dirPort: number;
  readonly orPort: number;
  /** Absent only for "-legacy" entries, which dir-spec gives no contact or vote-digest. */
  readonly contact: string | undefined;
  readonly voteDigest: string | undefined;
}

export interface OrAddress {
  /** Address text without brackets. */
  readonly ip: string;
  readonly port: number;
  readonly family: 4 | 6;
}

export interface RouterStatus {
  readonly nickname: string;
  /** SHA-1 of the relay's RSA identity key (20 bytes). */
  readonly identity: Uint8Array;
  /** Ignored by clients (dir-spec: may be a fixed value in consensuses), kept for completeness. */
  readonly published: Date;
  readonly ipv4: string;
  readonly orPort: number;
  readonly dirPort: number;
  /** The "a" lines: additional OR addresses (in practice the first IPv6 one). */
  readonly addresses: readonly OrAddress[];
  /** SHA-256 of the relay's microdescriptor. */
  readonly microdescDigest: Uint8Array;
  /** The same digest as the "m" line writes it: base64 without padding. */
  readonly microdescDigestBase64: string;
  readonly flags: ReadonlySet<string>;
  /** The "v" line (e.g. "Tor 0.4.9.6"), if present. */
  readonly version: string | undefined;
  /** The "pr" line: the subprotocols the relay implements (empty when absent). */
  readonly protocols: ProtocolList;
  /** "w Bandwidth=": consensus weight, undefined when the relay has no "w" line. */
  readonly bandwidth: number | undefined;
  /** "w ... Unmeasured=1": the weight is not from bandwidth measurements. */
  readonly unmeasured: boolean;
}

export interface DirectorySignature {
  /** "sha1" (the default when absent) or "sha256"; other values are kept and ignored when verifying. */
  readonly algorithm: string;
  /** Upper-case hex identity fingerprint of the signing authority. */
  readonly identity: string;
  /** Upper-case hex SHA-1 of the authority signing key that made the signature. */
  readonly signingKeyDigest: string;
  readonly signature: Uint8Array;
}

export interface ConsensusFields {
  readonly consensusMethod: number;
  readonly validAfter: Date;
  readonly freshUntil: Date;
  readonly validUntil: Date;
  /** "voting-delay": seconds to collect votes, then signatures. */
  readonly voteSeconds: number;
  readonly distSeconds: number;
  readonly clientVersions: readonly string[];
  readonly serverVersions: readonly string[];
  readonly knownFlags: readonly string[];
  /** The protocol lists clients and relays are asked to implement (empty when the line is absent). */
  readonly recommendedClientProtocols: ProtocolList;
  readonly recommendedRelayProtocols: ProtocolList;
  readonly requiredClientProtocols: ProtocolList;
  readonly requiredRelayProtocols: ProtocolList;
  /** Network parameters ("params"), see param-spec. */
  readonly params: ReadonlyMap<string, number>;
  readonly sharedRandCurrent: SharedRandomValue | undefined;
  readonly sharedRandPrevious: SharedRandomValue | undefined;
  readonly dirSources: readonly DirSource[];
  /** Router status entries, in the document's order (ascending identity). */
  readonly routers: readonly RouterStatus[];
  /** "bandwidth-weights" (Wgg, Wmd, ...), empty when absent. */
  readonly bandwidthWeights: ReadonlyMap<string, number>;
  readonly signatures: readonly DirectorySignature[];
}

/** A consensus's fields as parsed; Consensus adds who signed it, once checked. */
// The class adds behaviour; its fields are ConsensusFields's, declared once there (the interface
// merges into the class), so the parsed and the checked document never restate them.
export interface ConsensusDocument extends ConsensusFields {}
export class ConsensusDocument {
  /** @internal Made by the parser. */
  constructor(f: ConsensusFields) {
    Object.assign(this, f);
  }

  /** A network parameter, or `fallback` when the consensus does not set it. */
  param(name: string, fallback: number): number {
    return this.params.get(name) ?? fallback;
  }
}

/** A configured directory authority: its v3 identity ("v3ident") fingerprint. */
export interface AuthorityId {
  /** 40 hex digits, either case. */
  readonly fingerprint: string;
}

/** A signature whose authority key certificate the caller does not have (fetch /tor/keys/fp-sk/...). */
export interface MissingCert {
  readonly identity: string;
  readonly signingKeyDigest: string;
}

/**
 * A parsed consensus whose signatures and times have not been checked: check(authorities, certs,
 * now, options?) gives the Consensus or throws ConsensusRejectedError (see checkConsensus).
 */
export class UnverifiedConsensus extends Unverified<Consensus, [authorities: readonly AuthorityId[], certs: readonly AuthCert[], now: Date, options?: VerifyConsensusOptions], ConsensusDocument> {
  /**
   * The digest the authorities signed: of the text from "network-status-version" through the
   * space after the first "directory-signature" (dir-spec §3.4.1).
   */
  readonly signedDigest: (algorithm: 'sha1' | 'sha256') => Uint8Array;

  /** @internal Use parseConsensus. */
  constructor(fields: ConsensusFields, signedText: string) {
    const signedDigest = digestsOf(signedText);
    super(new ConsensusDocument(fields), (parsed, authorities, certs, now, options = {}) => checkConsensus(parsed, signedDigest, authorities, certs, now, options));
    this.signedDigest = signedDigest;
  }

  /**
   * Signatures by configured authorities for which `certs` holds no certificate with that
   * identity and signing key: the certificates to fetch before checking.
   */
  missingCerts(authorities: readonly AuthorityId[], certs: readonly AuthCert[]): MissingCert[] {
    return missingCertsOf(this.unchecked, authorities, certs);
  }
}

/** SHA-1 and SHA-256 of the signed text, each worked out once when first asked for. */
function digestsOf(signedText: string): (algorithm: 'sha1' | 'sha256') => Uint8Array {
  const digests = new Map<string, Uint8Array>();
  return (algorithm) => {
    let d = digests.get(algorithm);
    if (!d) {
      const bytes = utf8(signedText);
      d = algorithm === 'sha256' ? sha256(bytes) : sha1(bytes);
      digests.set(algorithm, d);
    }
    return d;
  };
}

function missingCertsOf(parsed: ConsensusFields, authorities: readonly AuthorityId[], certs: readonly AuthCert[]): MissingCert[] {
  const wanted = normaliseAuthorities(authorities);
  const out: MissingCert[] = [];
  const seen = new Set<string>();
  for (const sig of parsed.signatures) {
    if (!wanted.has(sig.identity) || !isKnownAlgorithm(sig.algorithm)) continue;
    if (certs.some((c) => c.fingerprint === sig.identity && c.signingKeyDigest === sig.signingKeyDigest)) continue;
    const key = `${sig.identity}-${sig.signingKeyDigest}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push({ identity: sig.identity, signingKeyDigest: sig.signingKeyDigest });
    }
  }
  return out;
}

/** A consensus signed by a majority of the configured authorities, checked at a given time. */
export class Consensus extends ConsensusDocument {
  /** Upper-case fingerprints of the configured authorities whose signatures verified. */
  readonly signedBy: readonly string[];

  /** @internal Made by UnverifiedConsensus.check. */
  constructor(fields: ConsensusFields, signedBy: readonly string[]) {
    super(fields);
    this.signedBy = signedBy;
  }
}

export type ConsensusRejection = 'not-yet-valid' | 'expired' | 'not-enough-signatures';

const REJECTION_KINDS: Record<ConsensusRejection, ErrorKind> = {
  'not-yet-valid': 'certificate-not-yet-valid',
  'expired': 'certificate-expired',
  'not-enough-signatures': 'not-enough-signatures',
};

/** Why a consensus was refused by its check, with the numbers a log or a retry policy needs. */
export class ConsensusRejectedError extends CertificateError {
  readonly reason: ConsensusRejection;
  /** Configured authorities whose signatures verified. */
  readonly validSignatures: number;
  /** Signatures needed (more than half of the configured authorities). */
  readonly required: number;
  readonly authorities: number;
  /** Certificates that would have let more signatures be checked. */
  readonly missingCerts: readonly MissingCert[];

  /**
   * `times`: the consensus' validity and the time it was checked at, when our clock refused it
   * (`now` − `validUntil` or − `validAfter` is how far off the clock is, at least). A consensus
   * refused for being no newer than the one we have carries none: the clock is not to blame.
   */
  constructor(reason: ConsensusRejection, detail: string, counts: { validSignatures: number; required: number; authorities: number; missingCerts: readonly MissingCert[] }, times: { validAfter?: Date; validUntil?: Date; now?: Date } = {}) {
    super('consensus', detail, { kind: REJECTION_KINDS[reason], document: 'consensus', ...times });
    this.reason = reason;
    this.validSignatures = counts.validSignatures;
    this.required = counts.required;
    this.authorities = counts.authorities;
    this.missingCerts = counts.missingCerts;
  }
}

export interface VerifyConsensusOptions {
  /** Tolerance in milliseconds before valid-after and after valid-until (default 0). */
  skewMs?: number;
}

/**
 * Accept a consensus only if valid-after - skew <= now <= valid-until + skew and more than half of
 * `authorities` have a signature that verifies with the signing key of a matching certificate in
 * `certs` (each authority counted once). A certificate counts only while current at `now` (the
 * same `skewMs` tolerance applies). Throws ConsensusRejectedError otherwise.
 */
function checkConsensus(
  parsed: ConsensusDocument,
  signedDigest: (algorithm: 'sha1' | 'sha256') => Uint8Array,
  authorities: readonly AuthorityId[],
  certs: readonly AuthCert[],
  now: Date,
  options: VerifyConsensusOptions,
): Consensus {
  const wanted = normaliseAuthorities(authorities);
  if (wanted.size === 0) throw new UsageError('checking a consensus needs at least one authority');
  const skew = options.skewMs ?? 0;
  const required = Math.floor(wanted.size / 2) + 1;
  const counts = (valid: number) => ({ validSignatures: valid, required, authorities: wanted.size, missingCerts: missingCertsOf(parsed, authorities, certs) });

  const t = now.getTime();
  const times = { validAfter: parsed.validAfter, validUntil: parsed.validUntil, now };
  if (t < parsed.validAfter.getTime() - skew) {
    throw new ConsensusRejectedError('not-yet-valid', `not valid until ${parsed.validAfter.toISOString()} (now ${now.toISOString()})`, counts(0), times);
  }
  if (t > parsed.validUntil.getTime() + skew) {
    throw new ConsensusRejectedError('expired', `expired at ${parsed.validUntil.toISOString()} (now ${now.toISOString()})`, counts(0), times);
  }

  const signedBy: string[] = [];
  for (const id of wanted) {
    const ok = parsed.signatures.some((sig) => {
      if (sig.identity !== id || !isKnownAlgorithm(sig.algorithm)) return false;
      const digest = signedDigest(sig.algorithm);
      return certs.some((c) => c.fingerprint === id && c.signingKeyDigest === sig.signingKeyDigest && c.isCurrent(now, skew) && c.signingKey.verifyRawDigest(sig.signature, digest));
    });
    if (ok) signedBy.push(id);
  }
  if (signedBy.length < required) {
    throw new ConsensusRejectedError('not-enough-signatures', `${signedBy.length} of ${wanted.size} authorities' signatures verify, ${required} needed`, counts(signedBy.length));
  }
  return new Consensus(parsed, signedBy);
}

function isKnownAlgorithm(a: string): a is 'sha1' | 'sha256' {
  return a === 'sha1' || a === 'sha256';
}

function normaliseAuthorities(authorities: readonly AuthorityId[]): Set<string> {
  const out = new Set<string>();
  for (const a of authorities) {
    if (!/^[0-9A-Fa-f]{40}$/.test(a.fingerprint)) throw new UsageError(`authority fingerprint "${a.fingerprint}" is not 40 hex digits`);
    out.add(a.fingerprint.toUpperCase());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parsing

const NICKNAME = /^[A-Za-z0-9]{1,19}$/;

type Section = 'preamble' | 'authorities' | 'routers' | 'footer' | 'signatures';

/** Parse a microdesc-flavoured consensus. Throws ProtocolError naming the offending line. */
export function parseConsensus(input: string | Uint8Array): UnverifiedConsensus {
  const text = documentText(input, CONTEXT);
  const items = tokenize(text, { context: CONTEXT });
  const first = items[0];
  if (!first) throw new ProtocolError(CONTEXT, 'empty document');
  if (first.keyword !== 'network-status-version') throw itemError(CONTEXT, first, 'document must start with "network-status-version"');
  const [version, flavor] = needArgs(CONTEXT, first, 1);
  if (version !== '3') throw itemError(CONTEXT, first, `unsupported version "${version}"`);
  if (flavor !== 'microdesc') throw itemError(CONTEXT, first, `flavor is "${flavor ?? 'ns'}", expected "microdesc"`);

  const preamble = new Map<string, NetdocItem>();
  const dirSources: DirSource[] = [];
  const routers: RouterStatus[] = [];
  const signatures: DirectorySignature[] = [];
  let bandwidthWeights = new Map<string, number>();
  let bandwidthWeightsSeen = false;
  let firstSignature: NetdocItem | undefined;

  let section: Section = 'preamble';
  let authority: NetdocItem[] | undefined;
  let router: NetdocItem[] | undefined;
  const flushAuthority = () => {
    if (authority) dirSources.push(parseDirSource(authority));
    authority = undefined;
  };
  let knownFlags: Set<string> | undefined;
  // Thousands of relays share identical "s" and "pr" lines: parse each distinct line once and
  // share the (read-only) result, which saves most of the parsing time and memory.
  const shared: SharedLines = { flags: new Map(), protocols: new Map() };
  const flushRouter = () => {
    if (router) {
      knownFlags ??= new Set(parseKnownFlags(preamble));
      const r = parseRouter(router, knownFlags, shared);
      const prev = routers[routers.length - 1];
      // dir-spec: entries are sorted by identity digest; a reordered list is not a valid consensus.
      if (prev && compareBytes(prev.identity, r.identity) >= 0) throw itemError(CONTEXT, router[0]!, 'router entries are not in ascending identity order');
      routers.push(r);
    }
    router = undefined;
  };

  for (const it of items.slice(1)) {
    const k = it.keyword;
    if (section === 'signatures' && k !== 'directory-signature') throw itemError(CONTEXT, it, 'only directory signatures may follow the first directory-signature');
    if (k === 'dir-source' && (section === 'preamble' || section === 'authorities')) {
      flushAuthority();
      section = 'authorities';
      authority = [it];
    } else if (k === 'r' && (section === 'preamble' || section === 'authorities' || section === 'routers')) {
      flushAuthority();
      flushRouter();
      section = 'routers';
      router = [it];
    } else if (k === 'directory-footer') {
      if (section === 'footer') throw itemError(CONTEXT, it, 'appears more than once');
      flushAuthority();
      flushRouter();
      if (it.args.length || it.object) throw itemError(CONTEXT, it, 'takes no arguments');
      section = 'footer';
    } else if (k === 'directory-signature') {
      flushAuthority();
      flushRouter();
      if (!firstSignature) {
        firstSignature = it;
        // The signed text ends with the space after the keyword; tor writes exactly one space.
        const after = it.start + k.length;
        if (text[after] !== ' ' || text[after + 1] === ' ' || text[after + 1] === '\t') throw itemError(CONTEXT, it, 'keyword must be followed by a single space');
      }
      section = 'signatures';
      signatures.push(parseSignature(it));
    } else if (section === 'preamble') {
      if (PREAMBLE_SINGLE.has(k)) {
        if (preamble.has(k)) throw itemError(CONTEXT, it, 'appears more than once');
        preamble.set(k, it);
      }
    } else if (section === 'authorities') {
      authority!.push(it);
    } else if (section === 'routers') {
      router!.push(it);
    } else if (section === 'footer' && k === 'bandwidth-weights') {
      if (bandwidthWeightsSeen) throw itemError(CONTEXT, it, 'appears more than once');
      bandwidthWeightsSeen = true;
      bandwidthWeights = parseIntPairs(CONTEXT, it, it.args);
    }
    // Anything else is an item this parser does not know, which dir-spec §1.2 says to ignore.
  }
  if (!firstSignature) throw new ProtocolError(CONTEXT, 'no directory-signature', text.length);

  const req = (k: string): NetdocItem => {
    const it = preamble.get(k);
    if (!it) throw itemError(CONTEXT, first, `missing "${k}"`);
    return it;
  };
  const status = needArgs(CONTEXT, req('vote-status'), 1)[0];
  if (status !== 'consensus') throw itemError(CONTEXT, req('vote-status'), `vote-status is "${status}", not "consensus"`);
  const methodItem = preamble.get('consensus-method');
  // dir-spec: absence means method 1.
  const consensusMethod = methodItem ? parseIntField(CONTEXT, methodItem, needArgs(CONTEXT, methodItem, 1)[0]!, 'consensus method', 1, INT32_MAX) : 1;
  const validAfter = parseTimeArgs(CONTEXT, req('valid-after'), 0);
  const freshUntil = parseTimeArgs(CONTEXT, req('fresh-until'), 0);
  const validUntil = parseTimeArgs(CONTEXT, req('valid-until'), 0);
  if (!(validAfter.getTime() <= freshUntil.getTime() && freshUntil.getTime() <= validUntil.getTime())) {
    throw itemError(CONTEXT, req('valid-until'), 'valid-after <= fresh-until <= valid-until does not hold');
  }
  const delay = req('voting-delay');
  const [vs, ds] = needArgs(CONTEXT, delay, 2);
  const voteSeconds = parseIntField(CONTEXT, delay, vs!, 'VoteSeconds', 0, INT32_MAX);
  const distSeconds = parseIntField(CONTEXT, delay, ds!, 'DistSeconds', 0, INT32_MAX);
  const versions = (k: string) => {
    const it = preamble.get(k);
    return it && it.rawArgs !== '' ? it.rawArgs.split(',') : [];
  };
  const protocols = (k: string) => {
    const it = preamble.get(k);
    return it ? parseProtocols(it) : ProtocolList.EMPTY;
  };
  const paramsItem = preamble.get('params');
  const srv = (k: string) => {
    const it = preamble.get(k);
    return it ? parseSharedRandom(it) : undefined;
  };
  if (dirSources.length === 0) throw itemError(CONTEXT, first, 'no dir-source entries');

  const fields: ConsensusFields = {
    consensusMethod,
    validAfter,
    freshUntil,
    validUntil,
    voteSeconds,
    distSeconds,
    clientVersions: versions('client-versions'),
    serverVersions: versions('server-versions'),
    knownFlags: parseKnownFlags(preamble),
    recommendedClientProtocols: protocols('recommended-client-protocols'),
    recommendedRelayProtocols: protocols('recommended-relay-protocols'),
    requiredClientProtocols: protocols('required-client-protocols'),
    requiredRelayProtocols: protocols('required-relay-protocols'),
    params: paramsItem ? parseIntPairs(CONTEXT, paramsItem, paramsItem.args) : new Map(),
    sharedRandCurrent: srv('shared-rand-current-value'),
    sharedRandPrevious: srv('shared-rand-previous-value'),
    dirSources,
    routers,
    bandwidthWeights,
    signatures,
  };
  return new UnverifiedConsensus(fields, text.slice(first.start, firstSignature.start + 'directory-signature '.length));
}

/** Preamble items that may appear at most once (the required ones are checked after the loop). */
const PREAMBLE_SINGLE = new Set([
  'vote-status',
  'consensus-method',
  'valid-after',
  'fresh-until',
  'valid-until',
  'voting-delay',
  'client-versions',
  'server-versions',
  'known-flags',
  'recommended-client-protocols',
  'recommended-relay-protocols',
  'required-client-protocols',
  'required-relay-protocols',
  'params',
  'shared-rand-previous-value',
  'shared-rand-current-value',
]);

function parseKnownFlags(preamble: ReadonlyMap<string, NetdocItem>): string[] {
  const it = preamble.get('known-flags');
  if (!it) throw new ProtocolError(CONTEXT, 'missing "known-flags" before the router entries');
  return [...it.args];
}

function parseSharedRandom(it: NetdocItem): SharedRandomValue {
  const [n, v] = needArgs(CONTEXT, it, 2);
  return { reveals: parseIntField(CONTEXT, it, n!, 'NumReveals', 0, INT32_MAX), value: parseBase64Field(CONTEXT, it, v!, 'shared random value', 32) };
}

/** A "pr" or *-protocols line (dir-spec "proto"), errors naming the line. */
function parseProtocols(it: NetdocItem): ProtocolList {
  try {
    return ProtocolList.fromEntries(it.args, CONTEXT);
  } catch (e) {
    if (e instanceof ProtocolError) throw itemError(CONTEXT, it, e.detail);
    throw e;
  }
}

function parseDirSource(items: readonly NetdocItem[]): DirSource {
  const head = items[0]!;
  const [nickname, identity, address, ip, dirPort, orPort] = needArgs(CONTEXT, head, 6);
  if (parseIp(ip!)?.family !== 4) throw itemError(CONTEXT, head, `"${ip}" is not an IPv4 address`);
  let contact: string | undefined;
  let voteDigest: string | undefined;
  for (const it of items.slice(1)) {
    if (it.keyword === 'contact') {
      if (contact !== undefined) throw itemError(CONTEXT, it, 'appears more than once');
      contact = it.rawArgs;
    } else if (it.keyword === 'vote-digest') {
      if (voteDigest !== undefined) throw itemError(CONTEXT, it, 'appears more than once');
      voteDigest = parseHexField(CONTEXT, it, needArgs(CONTEXT, it, 1)[0]!, 'vote digest', 20);
    }
  }
  // dir-spec: legacy-key entries ("<nick>-legacy") come without contact and vote-digest.
  if (!nickname!.endsWith('-legacy') && (contact === undefined || voteDigest === undefined)) {
    throw itemError(CONTEXT, head, 'dir-source needs "contact" and "vote-digest"');
  }
  return {
    nickname: nickname!,
    identity: parseHexField(CONTEXT, head, identity!, 'authority identity', 20),
    address: address!,
    ip: ip!,
    dirPort: parseIntField(CONTEXT, head, dirPort!, 'DirPort', 0, 65535),
    orPort: parseIntField(CONTEXT, head, orPort!, 'ORPort', 0, 65535),
    contact,
    voteDigest,
  };
}

interface SharedLines {
  readonly flags: Map<string, ReadonlySet<string>>;
  readonly protocols: Map<string, ProtocolList>;
}

function parseRouter(items: readonly NetdocItem[], knownFlags: ReadonlySet<string>, shared: SharedLines): RouterStatus {
  const r = items[0]!;
  const [nickname, idB64, , , ip, orPort, dirPort] = needArgs(CONTEXT, r, 7);
  if (!NICKNAME.test(nickname!)) throw itemError(CONTEXT, r, `"${nickname!.slice(0, 30)}" is not a valid nickname`);
  const identity = parseBase64Field(CONTEXT, r, idB64!, 'identity', 20);
  const published = parseTimeArgs(CONTEXT, r, 2);
  if (parseIp(ip!)?.family !== 4) throw itemError(CONTEXT, r, `"${ip!.slice(0, 50)}" is not an IPv4 address`);

  const addresses: OrAddress[] = [];
  const single = new Map<string, NetdocItem>();
  for (const it of items.slice(1)) {
    if (it.keyword === 'a') {
      addresses.push(parseOrAddress(it, needArgs(CONTEXT, it, 1)[0]!));
    } else if (['m', 's', 'v', 'pr', 'w', 'p'].includes(it.keyword)) {
      if (single.has(it.keyword)) throw itemError(CONTEXT, it, 'appears more than once in a router entry');
      single.set(it.keyword, it);
    }
  }
  const m = single.get('m');
  if (!m) throw itemError(CONTEXT, r, 'router entry has no "m" line');
  const digestText = needArgs(CONTEXT, m, 1)[0]!;
  const microdescDigest = parseBase64Field(CONTEXT, m, digestText, 'microdescriptor digest', 32);
  const s = single.get('s');
  if (!s) throw itemError(CONTEXT, r, 'router entry has no "s" line');
  let flags = shared.flags.get(s.rawArgs);
  if (!flags) {
    const set = new Set<string>();
    for (const f of s.args) {
      // tor refuses a consensus whose "s" lines use flags it did not announce in "known-flags".
      if (!knownFlags.has(f)) throw itemError(CONTEXT, s, `flag "${f.slice(0, 30)}" is not in known-flags`);
      if (set.has(f)) throw itemError(CONTEXT, s, `flag "${f}" listed twice`);
      set.add(f);
    }
    flags = set;
    shared.flags.set(s.rawArgs, flags);
  }
  const v = single.get('v');
  const pr = single.get('pr');
  const w = single.get('w');
  let protocols = ProtocolList.EMPTY;
  if (pr) {
    // The network has a handful of distinct "pr" lines: parse each once.
    const known = shared.protocols.get(pr.rawArgs);
    protocols = known ?? parseProtocols(pr);
    if (!known) shared.protocols.set(pr.rawArgs, protocols);
  }
  let bandwidth: number | undefined;
  let unmeasured = false;
  if (w) {
    for (const a of w.args) {
      const eq = a.indexOf('=');
      if (eq <= 0) throw itemError(CONTEXT, w, `"${a.slice(0, 30)}" is not Key=Value`);
      const key = a.slice(0, eq);
      const value = a.slice(eq + 1);
      if (key === 'Bandwidth') bandwidth = parseIntField(CONTEXT, w, value, 'Bandwidth', 0, UINT32_MAX);
      else if (key === 'Unmeasured') unmeasured = parseIntField(CONTEXT, w, value, 'Unmeasured', 0, 1) === 1;
      // dir-spec: clients MUST ignore other weighting keywords.
    }
    if (bandwidth === undefined) throw itemError(CONTEXT, w, 'no Bandwidth=');
  }
  return {
    nickname: nickname!,
    identity,
    published,
    ipv4: ip!,
    orPort: parseIntField(CONTEXT, r, orPort!, 'ORPort', 0, 65535),
    dirPort: parseIntField(CONTEXT, r, dirPort!, 'DirPort', 0, 65535),
    addresses,
    microdescDigest,
    microdescDigestBase64: digestText.replace(/=+$/, ''),
    flags,
    version: v ? v.rawArgs : undefined,
    protocols,
    bandwidth,
    unmeasured,
  };
}

/** "a" line: "[IPv6]:port" or "IPv4:port". */
function parseOrAddress(it: NetdocItem, s: string): OrAddress {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d{1,5})$/.exec(s);
  const parsed = m ? parseIp(m[1]!) : undefined;
  if (!m || !parsed || (parsed.family === 6) !== m[1]!.startsWith('[')) throw itemError(CONTEXT, it, `"${s.slice(0, 60)}" is not address:port`);
  const port = parseIntField(CONTEXT, it, m[2]!, 'port', 1, 65535);
  const ip = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  return { ip, port, family: parsed.family };
}

function parseSignature(it: NetdocItem): DirectorySignature {
  const args = needArgs(CONTEXT, it, 2);
  // "directory-signature [Algorithm] identity signing-key-digest": three or more arguments mean
  // the algorithm is present; with two, it is the default, sha1.
  const [algorithm, identity, skd] = args.length >= 3 ? [args[0]!, args[1]!, args[2]!] : ['sha1', args[0]!, args[1]!];
  return {
    algorithm,
    identity: parseHexField(CONTEXT, it, identity, 'identity', 20),
    signingKeyDigest: parseHexField(CONTEXT, it, skd, 'signing key digest', 20),
    signature: expectObject(CONTEXT, it, ['SIGNATURE']),
  };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
