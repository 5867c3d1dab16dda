/**
 * Reading exit-policy rules as torrc (`ExitPolicy`) and router descriptors (accept/reject lines)
 * write them (dir-spec §2.1.3 exitpattern; tor's manual for `*4`, `*6` and `private`).
 */
import { parseIpv4, parseIpv6, ipv4MaskBits } from '../addr/index.ts';
import { ProtocolError, UsageError } from '../util/index.ts';
import { ExitPolicy } from './exit-policy.ts';
import { PRIVATE_RULES, type AddressFamily, type ExitPolicyRule, type PolicyAction } from './rule.ts';

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
