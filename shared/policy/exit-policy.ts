/**
 * Exit policies: the full accept/reject rule lists of a relay's configuration (torrc `ExitPolicy`)
 * and router descriptors, and the port-list summaries that consensuses ("p") and microdescriptors
 * ("p", "p6") carry.
 *
 * Sources: dir-spec §2.1.3 (exitpattern), §3.4.2 and §3.8.2 (summaries), tor's manual (ExitPolicy,
 * ExitPolicyRejectPrivate, IPv6Exit, ReducedExitPolicy, ExitRelay). Where the specs are silent
 * (how "unknown address" is judged, which rejects count towards a summary, how an over-long summary
 * is cut) this follows tor's observable behaviour, checked against the vectors in
 * fixtures/exit-policy-vectors.json.
 */
import { formatIpBracketed, ipFamilyOf, ipv4MaskBits, isLoopback, parseIp, parseIpPrefix, parseIpv4, parseIpv6, prefixMatches, sameIp, type IpFamily } from '../addr/index.ts';
import { ProtocolError, UsageError } from '../errors.ts';

export type PolicyAction = 'accept' | 'reject';
export type AddressFamily = IpFamily;

/** One rule of a full exit policy, always for one address family (`*` is split into two rules). */
export interface ExitPolicyRule {
  readonly action: PolicyAction;
  readonly family: AddressFamily;
  /**
   * The network address as written: 4 bytes (IPv4) or 16 bytes (IPv6). Bits past `maskBits` are
   * kept, as tor keeps them (they decide whether a reject names a "private" network exactly), but
   * they never take part in matching. A mask of 0 stores the zero address, since `*` carries none.
   */
  readonly address: Uint8Array;
  /** Prefix length: 0..32 for IPv4, 0..128 for IPv6; 0 is the wildcard. */
  readonly maskBits: number;
  /** Inclusive port range, 1..65535 (port 0 is never permitted, so a written 0 is raised to 1). */
  readonly portMin: number;
  readonly portMax: number;
}

/** An address to check: an IP literal (IPv6 with or without brackets) or its 4 or 16 bytes. */
export type AddressInput = string | Uint8Array;

/**
 * The answer of a full policy, as tor gives it. The "probably" answers only arise when the address
 * is unknown (the client has a hostname): a rule for part of the address space could apply.
 */
export type PolicyVerdict = 'accepted' | 'rejected' | 'probably-accepted' | 'probably-rejected';

/** Which way of writing rules to read. */
export type PolicySyntax = 'torrc' | 'descriptor';

export interface ParseExitPolicyOptions {
  /**
   * 'torrc' (default): `*` means IPv4 and IPv6 (two rules), `*4` and `*6` name one family, plain
   * accept/reject take IPv4 or IPv6 addresses. 'descriptor' (router descriptors, dir-spec §2.1.1):
   * `*` is the IPv4 wildcard in accept/reject and the IPv6 wildcard in accept6/reject6; `*4` and
   * `*6` are not part of the grammar.
   */
  readonly syntax?: PolicySyntax;
}

const ALL_PORTS_MIN = 1;
const ALL_PORTS_MAX = 65535;

/**
 * The networks tor calls "private": what `private` in a rule expands to, and the rejects a summary
 * ignores (compared exactly, address and prefix length). Authorities must agree on this list, so it
 * is tor's, in tor's order.
 */
export const PRIVATE_NETWORKS: readonly string[] = Object.freeze([
  '0.0.0.0/8',
  '169.254.0.0/16',
  '127.0.0.0/8',
  '192.168.0.0/16',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '[::]/8',
  '[fc00::]/7',
  '[fe80::]/10',
  '[fec0::]/10',
  '[ff00::]/8',
  '[::]/127',
]);

/** tor's default exit policy (appended after the ExitPolicy lines of an exit that is no bridge). */
export const DEFAULT_EXIT_POLICY =
  'reject *:25,reject *:119,reject *:135-139,reject *:445,reject *:563,reject *:1214,' +
  'reject *:4661-4666,reject *:6346-6429,reject *:6699,reject *:6881-6999,accept *:*';

/** The ports ReducedExitPolicy accepts (tor's manual lists them); everything else is rejected. */
const REDUCED_EXIT_PORTS =
  '20-23,43,53,79-81,88,110,143,194,220,389,443,464,465,531,543-544,554,563,587,636,706,749,873,' +
  '902-904,981,989-995,1194,1220,1293,1500,1533,1677,1723,1755,1863,2082-2083,2086-2087,2095-2096,' +
  '2102-2104,3128,3389,3690,4321,4643,5050,5190,5222-5223,5228,5900,6660-6669,6679,6697,8000,8008,' +
  '8074,8080,8082,8087-8088,8232-8233,8332-8333,8443,8888,9418,9999,10000,11371,19294,19638,50002,' +
  '64738';
export const REDUCED_EXIT_POLICY =
  REDUCED_EXIT_PORTS.split(',')
    .map((p) => `accept *:${p}`)
    .join(',') + ',reject *:*';

/** dir-spec §3.8.2: a summary, "accept "/"reject " included, is at most 1000 characters. */
const MAX_SUMMARY_LEN = 1000;
/** tor refuses summaries with more entries than this; it also bounds the work on hostile input. */
const MAX_SUMMARY_ENTRIES = 1000;

// ---------------------------------------------------------------------------------------------
// IP addresses
// ---------------------------------------------------------------------------------------------

function toAddress(input: AddressInput): { family: AddressFamily; bytes: Uint8Array } {
  if (typeof input === 'string') {
    const a = parseIp(input);
    if (!a) throw new UsageError(`'${input}' is not an IP address (pass null for an unknown address)`);
    return a;
  }
  return { family: ipFamilyOf(input), bytes: input };
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`port must be an integer 0..65535, not ${port}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Rules: parsing and writing
// ---------------------------------------------------------------------------------------------

const CONTEXT = 'exit policy';

function parsePortRange(text: string | undefined, entry: string): { min: number; max: number } | undefined {
  if (text === undefined || text === '*') return { min: ALL_PORTS_MIN, max: ALL_PORTS_MAX };
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text);
  if (!m) throw new ProtocolError(CONTEXT, `'${entry}': bad port '${text}'`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > 65535 || hi > 65535) throw new ProtocolError(CONTEXT, `'${entry}': port out of range`);
  if (lo > hi) throw new ProtocolError(CONTEXT, `'${entry}': port range ${lo}-${hi} is backwards`);
  // dir-spec: accept port 0 from others but never permit connections to it. A range of port 0
  // alone therefore matches nothing at all.
  const min = Math.max(lo, 1);
  if (hi < min) return undefined;
  return { min, max: hi };
}

function parseMask(text: string, family: AddressFamily, entry: string): number {
  if (/^[0-9]{1,3}$/.test(text)) {
    const bits = Number(text);
    if (bits > (family === 4 ? 32 : 128)) {
      throw new ProtocolError(CONTEXT, `'${entry}': /${bits} is too long for an IPv${family} address`);
    }
    return bits;
  }
  // dir-spec also allows an IPv4 mask in dotted form, if it is a prefix.
  const dotted = family === 4 ? parseIpv4(text) : undefined;
  if (!dotted) throw new ProtocolError(CONTEXT, `'${entry}': bad mask '/${text}'`);
  const bits = ipv4MaskBits(dotted);
  if (bits === undefined) throw new ProtocolError(CONTEXT, `'${entry}': mask ${text} is not a prefix`);
  return bits;
}

interface ParsedAddress {
  readonly families: readonly AddressFamily[];
  readonly bytes: Uint8Array | undefined; // undefined: wildcard
  readonly private: boolean;
}

const PRIVATE_RULES: readonly { family: AddressFamily; bytes: Uint8Array; maskBits: number }[] =
  PRIVATE_NETWORKS.map((net) => {
    const p = parseIpPrefix(net);
    if (!p) throw new UsageError(`bad private network ${net}`);
    return { family: p.address.family, bytes: p.address.bytes, maskBits: p.maskBits };
  });

/** Rules of one comma-separated entry, e.g. "accept *:80" or "reject6 [fc00::]/7:*". */
function parseEntry(entry: string, syntax: PolicySyntax): ExitPolicyRule[] {
  const m = /^(accept|reject)(6?)[ \t]+([^ \t]+)$/i.exec(entry);
  if (!m) {
    throw new ProtocolError(CONTEXT, `'${entry}': expected "accept|reject[6] ADDRESS[/MASK][:PORT[-PORT]]"`);
  }
  const action: PolicyAction = m[1]!.toLowerCase() === 'accept' ? 'accept' : 'reject';
  const six = m[2] === '6';
  const arg = m[3]!;

  let addrText: string;
  let bracketed = false;
  let rest: string;
  if (arg.startsWith('[')) {
    const close = arg.indexOf(']');
    if (close === -1) throw new ProtocolError(CONTEXT, `'${entry}': no closing ']'`);
    addrText = arg.slice(1, close);
    bracketed = true;
    rest = arg.slice(close + 1);
    if (rest !== '' && rest[0] !== '/' && rest[0] !== ':') {
      throw new ProtocolError(CONTEXT, `'${entry}': unexpected text after ']'`);
    }
  } else {
    // Like tor: the mask starts at the first '/', the port at the first ':' after the mask. So an
    // IPv6 address may go without brackets when a mask follows it ("reject6 2607:5300::/32").
    const slash = arg.indexOf('/');
    if (slash === -1 && arg.indexOf(':') !== arg.lastIndexOf(':')) {
      throw new ProtocolError(CONTEXT, `'${entry}': write IPv6 addresses in [brackets]`);
    }
    const colon = arg.indexOf(':', slash === -1 ? 0 : slash);
    const end = slash !== -1 ? slash : colon !== -1 ? colon : arg.length;
    addrText = arg.slice(0, end);
    rest = arg.slice(end);
  }
  let maskText: string | undefined;
  let portText: string | undefined;
  if (rest.startsWith('/')) {
    const colon = rest.indexOf(':');
    maskText = rest.slice(1, colon === -1 ? undefined : colon);
    rest = colon === -1 ? '' : rest.slice(colon);
  }
  if (rest.startsWith(':')) portText = rest.slice(1);
  else if (rest !== '') throw new ProtocolError(CONTEXT, `'${entry}': cannot read '${arg}'`);

  const ports = parsePortRange(portText, entry);
  const addr = parseAddressPart(addrText, bracketed, six, syntax, entry);
  if (addr.bytes === undefined && !addr.private && maskText !== undefined) {
    throw new ProtocolError(CONTEXT, `'${entry}': a wildcard takes no mask`);
  }
  if (addr.private && maskText !== undefined) {
    throw new ProtocolError(CONTEXT, `'${entry}': 'private' takes no mask`);
  }
  if (ports === undefined) return [];

  if (addr.private) {
    // "private" stands for every private network of both families, whatever the keyword.
    return PRIVATE_RULES.map((p) => ({
      action,
      family: p.family,
      address: p.bytes,
      maskBits: p.maskBits,
      portMin: ports.min,
      portMax: ports.max,
    }));
  }
  return addr.families.map((family) => {
    const full = family === 4 ? 32 : 128;
    const maskBits =
      addr.bytes === undefined ? 0 : maskText === undefined ? full : parseMask(maskText, family, entry);
    const address = addr.bytes === undefined || maskBits === 0 ? new Uint8Array(full / 8) : addr.bytes;
    return { action, family, address, maskBits, portMin: ports.min, portMax: ports.max };
  });
}

function parseAddressPart(
  text: string,
  bracketed: boolean,
  six: boolean,
  syntax: PolicySyntax,
  entry: string,
): ParsedAddress {
  const wildcard = (families: AddressFamily[]): ParsedAddress => ({
    families,
    bytes: undefined,
    private: false,
  });
  if (!bracketed) {
    if (text === '*') {
      if (six) return wildcard([6]);
      return wildcard(syntax === 'torrc' ? [4, 6] : [4]);
    }
    if (syntax === 'torrc' && text === '*4') {
      if (six) throw new ProtocolError(CONTEXT, `'${entry}': accept6/reject6 need an IPv6 address`);
      return wildcard([4]);
    }
    if (syntax === 'torrc' && text === '*6') return wildcard([6]);
    if (text === 'private') return { families: [4, 6], bytes: undefined, private: true };
    const v4 = parseIpv4(text);
    if (v4) {
      // tor skips such a rule with a warning; a rule that silently vanishes is worse than an error.
      if (six) throw new ProtocolError(CONTEXT, `'${entry}': accept6/reject6 need an IPv6 address`);
      return { families: [4], bytes: v4, private: false };
    }
    const v6 = parseIpv6(text);
    if (v6) return { families: [6], bytes: v6, private: false };
    throw new ProtocolError(
      CONTEXT,
      `'${entry}': '${text}' is not an address` + (text.includes(':') ? ' (write IPv6 addresses in [brackets])' : ''),
    );
  }
  const v6 = parseIpv6(text);
  if (!v6) throw new ProtocolError(CONTEXT, `'${entry}': '[${text}]' is not an IPv6 address`);
  return { families: [6], bytes: v6, private: false };
}

function ruleAddressText(r: ExitPolicyRule, forDescriptor: boolean): string {
  if (r.maskBits === 0) return forDescriptor ? '*' : r.family === 4 ? '*4' : '*6';
  const a = formatIpBracketed(r.address);
  const full = r.family === 4 ? 32 : 128;
  return r.maskBits === full ? a : `${a}/${r.maskBits}`;
}

function rulePortText(r: ExitPolicyRule): string {
  if (r.portMin <= 1 && r.portMax === 65535) return '*';
  return r.portMin === r.portMax ? `${r.portMin}` : `${r.portMin}-${r.portMax}`;
}

/** A rule as torrc reads it back: `*4`/`*6` for wildcards, plain accept/reject for both families. */
export function formatRule(r: ExitPolicyRule): string {
  return `${r.action} ${ruleAddressText(r, false)}:${rulePortText(r)}`;
}

/** A rule as a router descriptor writes it: accept6/reject6 for IPv6, `*` for either wildcard. */
export function formatDescriptorRule(r: ExitPolicyRule): string {
  return `${r.action}${r.family === 6 ? '6' : ''} ${ruleAddressText(r, true)}:${rulePortText(r)}`;
}

function validateRule(r: ExitPolicyRule): void {
  const full = r.family === 4 ? 32 : r.family === 6 ? 128 : -1;
  const ok =
    (r.action === 'accept' || r.action === 'reject') &&
    full > 0 &&
    r.address instanceof Uint8Array &&
    r.address.length * 8 === full &&
    Number.isInteger(r.maskBits) &&
    r.maskBits >= 0 &&
    r.maskBits <= full &&
    Number.isInteger(r.portMin) &&
    Number.isInteger(r.portMax) &&
    r.portMin >= 1 &&
    r.portMin <= r.portMax &&
    r.portMax <= 65535;
  if (!ok) throw new UsageError(`malformed exit policy rule ${JSON.stringify({ ...r, address: [...(r.address ?? [])] })}`);
}

// ---------------------------------------------------------------------------------------------
// Full policies
// ---------------------------------------------------------------------------------------------

function ruleCoversAddress(r: ExitPolicyRule, family: AddressFamily, bytes: Uint8Array): boolean {
  return r.family === family && prefixMatches(r.address, bytes, r.maskBits);
}

/** A full exit policy: rules tried in order, the first match decides, no match accepts. */
export class ExitPolicy {
  readonly rules: readonly ExitPolicyRule[];

  constructor(rules: readonly ExitPolicyRule[]) {
    for (const r of rules) validateRule(r);
    this.rules = Object.freeze(rules.map((r) => Object.freeze({ ...r, address: r.address.slice() })));
  }

  /** The first rule that matches address:port, or undefined (then the policy accepts). */
  firstMatch(address: AddressInput, port: number): ExitPolicyRule | undefined {
    checkPort(port);
    const a = toAddress(address);
    return this.rules.find(
      (r) => ruleCoversAddress(r, a.family, a.bytes) && port >= r.portMin && port <= r.portMax,
    );
  }

  /**
   * How the policy answers a connection to address:port. With a null address (the client only has a
   * hostname) tor's rule applies: the first rule for that port that covers every address (a /0)
   * decides; rules for part of the address space met before it only make the answer "probably".
   * With no deciding rule the answer is accepted (probably, if a partial reject came up).
   *
   * For a null address only the rules of `families` are read (default IPv4): the exit resolves the
   * hostname and, for a BEGIN without flags, connects over IPv4 only (tor-spec §6.2). tor itself
   * reads every rule, which comes to the same for router descriptors since they carry IPv4 rules
   * only; for a relay's own configured policy it would let "reject *6:*" refuse every hostname.
   */
  evaluate(
    address: AddressInput | null,
    port: number,
    options: { families?: readonly AddressFamily[] } = {},
  ): PolicyVerdict {
    checkPort(port);
    if (port === 0) return 'rejected'; // dir-spec: connections to port 0 are never permitted.
    if (address !== null) {
      const r = this.firstMatch(address, port);
      return r === undefined || r.action === 'accept' ? 'accepted' : 'rejected';
    }
    const families = options.families ?? [4];
    let maybeAccept = false;
    let maybeReject = false;
    for (const r of this.rules) {
      if (!families.includes(r.family) || port < r.portMin || port > r.portMax) continue;
      if (r.maskBits === 0) {
        if (r.action === 'accept') return maybeReject ? 'probably-accepted' : 'accepted';
        return maybeAccept ? 'probably-rejected' : 'rejected';
      }
      if (r.action === 'accept') maybeAccept = true;
      else maybeReject = true;
    }
    return maybeReject ? 'probably-accepted' : 'accepted';
  }

  /**
   * Whether a stream to address:port may be sent to this exit. As in tor's client: accepted and
   * probably-accepted pass; probably-rejected (a partial accept before a reject of everything)
   * passes only when the user picked this exit by name (`chosenExit`), since then an accept rule
   * for part of the address space is worth trying.
   */
  allows(
    address: AddressInput | null,
    port: number,
    options: { chosenExit?: boolean; families?: readonly AddressFamily[] } = {},
  ): boolean {
    const v = this.evaluate(address, port, options);
    return v === 'accepted' || v === 'probably-accepted' || (v === 'probably-rejected' && options.chosenExit === true);
  }

  /**
   * True if no address of the family can get through: tor's "reject star" test, which looks for a
   * reject of every address and port before any accept rule for the family.
   */
  rejectsAll(family: AddressFamily): boolean {
    for (const r of this.rules) {
      if (r.family !== family) continue;
      if (r.action === 'accept') return false;
      if (r.maskBits === 0 && r.portMin <= 1 && r.portMax === 65535) return true;
    }
    return false;
  }

  /** The rules in torrc form, one per element (parseExitPolicy reads them back unchanged). */
  toLines(): string[] {
    return this.rules.map(formatRule);
  }

  /** The policy as one torrc `ExitPolicy` value: rules joined by commas. */
  toString(): string {
    return this.toLines().join(',');
  }

  /**
   * The accept/reject lines of a router descriptor. tor publishes only the IPv4 rules there (IPv6
   * exit goes into the "ipv6-policy" summary) unless includeIpv6 is set. A descriptor needs at
   * least one rule: with none to write this gives "reject *:*", as tor does for a relay without a
   * policy.
   */
  descriptorLines(options: { includeIpv6?: boolean } = {}): string[] {
    const lines = this.rules.filter((r) => r.family === 4 || options.includeIpv6 === true).map(formatDescriptorRule);
    return lines.length === 0 ? ['reject *:*'] : lines;
  }
}

/**
 * Parses exit-policy rules: each string is one torrc `ExitPolicy` value (rules separated by commas)
 * or one descriptor line; blank entries are skipped. Only the rules written are in the result: see
 * exitPolicyFromConfig for what tor adds around a relay's ExitPolicy lines.
 */
export function parseExitPolicy(lines: string | readonly string[], options: ParseExitPolicyOptions = {}): ExitPolicy {
  const syntax = options.syntax ?? 'torrc';
  const rules: ExitPolicyRule[] = [];
  for (const line of typeof lines === 'string' ? [lines] : lines) {
    if (typeof line !== 'string') throw new UsageError('exit policy lines must be strings');
    for (const raw of line.split(/[,\n]/)) {
      const entry = raw.trim();
      if (entry === '') continue;
      rules.push(...parseEntry(entry, syntax));
    }
  }
  return new ExitPolicy(rules);
}

// ---------------------------------------------------------------------------------------------
// Relay configuration: what tor builds from ExitPolicy and its companion options
// ---------------------------------------------------------------------------------------------

/** The exit-related options of a relay's configuration, with tor's defaults when left out. */
export interface ExitPolicyConfig {
  /** The `ExitPolicy` lines in order (each one comma-separated rules). */
  readonly exitPolicy?: string | readonly string[];
  /** `ExitRelay`: undefined is tor's "auto" (an exit only if some exit option is set). */
  readonly exitRelay?: boolean;
  /** `ExitPolicyRejectPrivate` (default true): reject private networks and the relay's own addresses. */
  readonly rejectPrivate?: boolean;
  /** The relay's own public addresses, rejected too under rejectPrivate. */
  readonly relayAddresses?: readonly AddressInput[];
  /** `IPv6Exit` (default false): without it every IPv6 destination is rejected first. */
  readonly ipv6Exit?: boolean;
  /** `ReducedExitPolicy`: append the reduced policy instead of the default one. */
  readonly reducedExitPolicy?: boolean;
  /** `BridgeRelay`: append no default policy (anything not accepted is rejected). */
  readonly bridgeRelay?: boolean;
}

/** Whether an address is routable on the internet (so worth a reject of its own). */
function isPublicAddress(family: AddressFamily, bytes: Uint8Array): boolean {
  if (bytes.every((b) => b === 0)) return false;
  for (const p of PRIVATE_RULES) if (p.family === family && prefixMatches(p.bytes, bytes, p.maskBits)) return false;
  if (family === 4) {
    if (bytes[0] === 100 && (bytes[1]! & 0xc0) === 64) return false; // 100.64.0.0/10, carrier-grade NAT
    if ((bytes[0]! & 0xf0) === 224) return false; // multicast
  }
  if (family === 6 && isLoopback({ family, bytes })) return false; // ::1
  return true;
}

function coversRule(a: ExitPolicyRule, b: ExitPolicyRule): boolean {
  return (
    a.family === b.family &&
    a.maskBits <= b.maskBits &&
    prefixMatches(a.address, b.address, a.maskBits) &&
    a.portMin <= b.portMin &&
    a.portMax >= b.portMax
  );
}

function intersectsRule(a: ExitPolicyRule, b: ExitPolicyRule): boolean {
  return (
    a.family === b.family &&
    prefixMatches(a.address, b.address, Math.min(a.maskBits, b.maskBits)) &&
    a.portMin <= b.portMax &&
    b.portMin <= a.portMax
  );
}

function isCatchAll(r: ExitPolicyRule): boolean {
  return r.maskBits === 0 && r.portMin <= 1 && r.portMax === 65535;
}

/**
 * Drops rules that can never decide anything, as tor does before publishing its policy. This is
 * not cosmetic: the summary counts rejected addresses per port, so a reject shadowed by a wider one
 * would otherwise be counted twice.
 */
function removeRedundancies(input: readonly ExitPolicyRule[]): ExitPolicyRule[] {
  // 1. Nothing of a family after a catch-all for that family is reachable.
  const rules: ExitPolicyRule[] = [];
  const closed = new Set<AddressFamily>();
  for (const r of input) {
    if (closed.has(r.family)) continue;
    rules.push(r);
    if (isCatchAll(r)) closed.add(r.family);
  }
  // 2. A rule covered by an earlier one (of either action) never matches.
  for (let i = 0; i < rules.length - 1; i++) {
    for (let j = i + 1; j < rules.length; j++) {
      if (coversRule(rules[i]!, rules[j]!)) rules.splice(j--, 1);
    }
  }
  // 3. A rule covered by a later one of the same action, with no rule of the other action that
  //    overlaps it in between, changes nothing.
  for (let i = 0; i < rules.length - 1; i++) {
    const a = rules[i]!;
    for (let j = i + 1; j < rules.length; j++) {
      const b = rules[j]!;
      if (a.action !== b.action) {
        if (intersectsRule(a, b)) break;
      } else if (coversRule(b, a)) {
        rules.splice(i--, 1);
        break;
      }
    }
  }
  return rules;
}

function rulesOf(text: string): ExitPolicyRule[] {
  return [...parseExitPolicy(text).rules];
}

/**
 * The exit policy tor builds for a relay from its configuration: "reject *6:*" unless IPv6Exit,
 * then "reject private:*" and the relay's own addresses under ExitPolicyRejectPrivate, then the
 * ExitPolicy lines, then the default (or reduced) policy unless the relay is a bridge, else a final
 * reject of everything; redundant rules removed. A relay that is no exit gets "reject *:*".
 */
export function exitPolicyFromConfig(config: ExitPolicyConfig = {}): ExitPolicy {
  const userLines = config.exitPolicy === undefined ? [] : typeof config.exitPolicy === 'string' ? [config.exitPolicy] : config.exitPolicy;
  const ipv6Exit = config.ipv6Exit === true;
  const rejectPrivate = config.rejectPrivate !== false;
  const autoNonExit =
    config.exitRelay === undefined && userLines.length === 0 && config.reducedExitPolicy !== true && !ipv6Exit;
  if (config.exitRelay === false || autoNonExit) return new ExitPolicy(rulesOf('reject *4:*,reject *6:*'));

  let rules: ExitPolicyRule[] = [];
  if (!ipv6Exit) rules.push(...rulesOf('reject *6:*'));
  if (rejectPrivate) {
    rules.push(...rulesOf('reject private:*'));
    for (const input of config.relayAddresses ?? []) {
      const a = toAddress(input);
      if (!isPublicAddress(a.family, a.bytes)) continue;
      if (a.family === 6 && !ipv6Exit) continue; // already rejected with every IPv6 address
      rules.push({
        action: 'reject',
        family: a.family,
        address: a.bytes.slice(),
        maskBits: a.family === 4 ? 32 : 128,
        portMin: 1,
        portMax: 65535,
      });
    }
  }
  rules = removeRedundancies(rules);
  rules.push(...parseExitPolicy(userLines).rules);
  if (config.bridgeRelay === true) rules.push(...rulesOf('reject *4:*,reject *6:*'));
  else if (config.reducedExitPolicy === true) rules.push(...rulesOf(REDUCED_EXIT_POLICY));
  else rules.push(...rulesOf(DEFAULT_EXIT_POLICY));
  return new ExitPolicy(removeRedundancies(rules));
}

/**
 * tor's policy for an exit relay configured with nothing but `ExitRelay 1`: reject private networks
 * (unless rejectPrivate is false), reject the default ports (25, 119, 135-139, 445, 563, 1214,
 * 4661-4666, 6346-6429, 6699, 6881-6999), accept the rest; IPv6 only with ipv6Exit.
 */
export function defaultExitPolicy(options: { ipv6Exit?: boolean; rejectPrivate?: boolean } = {}): ExitPolicy {
  return exitPolicyFromConfig({ exitRelay: true, ...options });
}

// ---------------------------------------------------------------------------------------------
// Port policies (summaries)
// ---------------------------------------------------------------------------------------------

export interface PortRange {
  readonly min: number;
  readonly max: number;
}

/**
 * A summarized exit policy ("accept 80,443" / "reject 25,119"): the ports a relay accepts for most
 * addresses. Microdescriptors carry one per family; a missing "p" or "p6" means reject 1-65535.
 */
export class PortPolicy {
  static readonly REJECT_ALL = new PortPolicy(false, [{ min: 1, max: 65535 }]);
  static readonly ACCEPT_ALL = new PortPolicy(true, [{ min: 1, max: 65535 }]);

  readonly accept: boolean;
  readonly ranges: readonly PortRange[];

  constructor(accept: boolean, ranges: readonly PortRange[]) {
    if (ranges.length === 0) throw new UsageError('a port policy lists at least one port range');
    for (const r of ranges) {
      if (!Number.isInteger(r.min) || !Number.isInteger(r.max) || r.min < 1 || r.min > r.max || r.max > 65535) {
        throw new UsageError(`bad port range ${r.min}-${r.max}`);
      }
    }
    this.accept = accept;
    this.ranges = Object.freeze(ranges.map((r) => Object.freeze({ min: r.min, max: r.max })));
  }

  /** Whether the relay exits to this port for most addresses (never for port 0). */
  allowsPort(port: number): boolean {
    checkPort(port);
    if (port === 0) return false;
    const listed = this.ranges.some((r) => port >= r.min && port <= r.max);
    return listed === this.accept;
  }

  /** True if no port is allowed at all. */
  rejectsAll(): boolean {
    if (this.accept) return false;
    // The ranges need not be sorted or disjoint: walk them in order of their start.
    const sorted = [...this.ranges].sort((a, b) => a.min - b.min);
    let next = 1;
    for (const r of sorted) {
      if (r.min > next) return false;
      next = Math.max(next, r.max + 1);
    }
    return next > 65535;
  }

  /** The summary text, e.g. "accept 80,443,1000-2000". */
  toString(): string {
    return `${this.accept ? 'accept' : 'reject'} ${this.ranges.map((r) => (r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`)).join(',')}`;
  }
}

const PORT_CONTEXT = 'port policy';

/**
 * Parses a summary: "accept 80,443", or a whole "p accept 80,443" / "p6 ..." / "ipv6-policy ..."
 * line. Like tor, items that do not start with a digit are skipped (so future formats can be
 * added), while an item that starts with a digit and is not a port or a port range makes the whole
 * summary invalid.
 */
export function parsePortPolicy(text: string): PortPolicy {
  let s = text.trim();
  const keyword = /^(p|p6|ipv6-policy)[ \t]+/.exec(s);
  if (keyword) s = s.slice(keyword[0].length);
  let accept: boolean;
  if (s.startsWith('accept ')) accept = true;
  else if (s.startsWith('reject ')) accept = false;
  else throw new ProtocolError(PORT_CONTEXT, `expected "accept PORTS" or "reject PORTS", got '${text.slice(0, 40)}'`);
  s = s.slice('accept '.length);

  const ranges: PortRange[] = [];
  let at = 0;
  const readNumber = (): number | undefined => {
    const m = /^[0-9]+/.exec(s.slice(at, at + 12));
    if (!m) return undefined;
    at += m[0].length;
    // A run of digits longer than what was sliced is out of range anyway.
    if (/^[0-9]/.test(s.slice(at, at + 1))) return Infinity;
    return Number(m[0]);
  };
  while (at < s.length) {
    if (!/[0-9]/.test(s[at]!)) {
      // Not a port: skip this item.
      const comma = s.indexOf(',', at);
      if (comma === -1) break;
      at = comma + 1;
      continue;
    }
    if (ranges.length === MAX_SUMMARY_ENTRIES) throw new ProtocolError(PORT_CONTEXT, 'too many entries');
    const bad = (): ProtocolError => new ProtocolError(PORT_CONTEXT, `bad entry in '${text.slice(0, 60)}'`, at);
    const low = readNumber();
    if (low === undefined || low < 1 || low > 65535) throw bad();
    let high = low;
    if (s[at] === '-') {
      at++;
      const h = readNumber();
      if (h === undefined || h < low || h > 65535) throw bad();
      high = h;
    }
    if (at < s.length) {
      if (s[at] !== ',') throw bad();
      at++;
    }
    ranges.push({ min: low, max: high });
  }
  if (ranges.length === 0) throw new ProtocolError(PORT_CONTEXT, `no port ranges in '${text.slice(0, 60)}'`);
  return new PortPolicy(accept, ranges);
}

// Summaries count, per port, how many addresses the rejects before an accept cover. A port is
// published as accepted if a wildcard accept reaches it while at most two IPv4 /8s (2^25
// addresses), or one IPv6 /16 (2^48 /64s; blocks smaller than a /64 do not count), are rejected
// for it (dir-spec §3.4.2 and tor's reading of it for IPv6).
const IPV4_CUTOFF = 2 ** 25;
const IPV6_CUTOFF = 2 ** 48;

interface Segment {
  min: number;
  max: number;
  rejected: number;
  accepted: boolean;
}

/** Splits segments so that one starts at lo and one ends at hi; returns the index of the first. */
function splitSegments(segs: Segment[], lo: number, hi: number): number {
  let i = 0;
  while (segs[i]!.max < lo) i++;
  if (segs[i]!.min !== lo) {
    const s = segs[i]!;
    segs.splice(i + 1, 0, { ...s, min: lo });
    s.max = lo - 1;
    i++;
  }
  const first = i;
  while (segs[i]!.max < hi) i++;
  if (segs[i]!.max !== hi) {
    const s = segs[i]!;
    segs.splice(i + 1, 0, { ...s, min: hi + 1 });
    s.max = hi;
  }
  return first;
}

function isPrivateRule(r: ExitPolicyRule): boolean {
  return PRIVATE_RULES.some((p) => p.family === r.family && p.maskBits === r.maskBits && sameIp(p.bytes, r.address));
}

/**
 * The summary of a full policy for one family, as directory authorities compute it for "p" (IPv4)
 * and "p6" (IPv6): accepts for part of the address space are ignored, rejects of exactly the
 * private networks are ignored, the shorter of the accept and reject lists is published (accept on
 * a tie), and an over-long summary becomes an accept list cut at the last whole item.
 */
export function summarize(policy: ExitPolicy, family: AddressFamily = 4): PortPolicy {
  const segs: Segment[] = [{ min: 1, max: 65535, rejected: 0, accepted: false }];
  const cutoff = family === 4 ? IPV4_CUTOFF : IPV6_CUTOFF;
  for (const r of policy.rules) {
    if (r.family !== family) continue;
    if (r.action === 'accept') {
      if (r.maskBits !== 0) continue;
      for (let i = splitSegments(segs, r.portMin, r.portMax); i < segs.length && segs[i]!.max <= r.portMax; i++) {
        const s = segs[i]!;
        if (!s.accepted && s.rejected <= cutoff) s.accepted = true;
      }
    } else {
      if (isPrivateRule(r)) continue;
      let count: number;
      if (family === 4) count = 2 ** (32 - r.maskBits);
      else if (r.maskBits > 64) continue; // too small to ever matter
      else count = r.maskBits === 0 ? Infinity : 2 ** (64 - r.maskBits);
      for (let i = splitSegments(segs, r.portMin, r.portMax); i < segs.length && segs[i]!.max <= r.portMax; i++) {
        segs[i]!.rejected += count;
      }
    }
  }

  // Merge neighbours with the same outcome into ranges.
  const accepts: PortRange[] = [];
  const rejects: PortRange[] = [];
  let start = 1;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    const next = segs[i + 1];
    if (next !== undefined && next.accepted === s.accepted) continue;
    (s.accepted ? accepts : rejects).push({ min: start, max: s.max });
    start = s.max + 1;
  }
  if (accepts.length === 0) return PortPolicy.REJECT_ALL;
  if (rejects.length === 0) return PortPolicy.ACCEPT_ALL;

  const text = (rs: readonly PortRange[]): string =>
    rs.map((r) => (r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`)).join(',');
  const acceptText = text(accepts);
  const rejectText = text(rejects);
  const room = MAX_SUMMARY_LEN - 'accept '.length; // the same for "reject "
  if (acceptText.length > room && rejectText.length > room) {
    // Keep the items that fit whole: cut at the last comma within the room.
    const cut = acceptText.lastIndexOf(',', room);
    const kept = acceptText.slice(0, cut).split(',').length;
    return new PortPolicy(true, accepts.slice(0, kept));
  }
  return rejectText.length < acceptText.length ? new PortPolicy(false, rejects) : new PortPolicy(true, accepts);
}
