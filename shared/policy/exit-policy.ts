/**
 * A full exit policy and its answers: the rules tried in order, the first match decides, and tor's
 * reading of a policy when only the port is known (the client has a hostname).
 *
 * Where the specs are silent (how "unknown address" is judged) this follows tor's observable
 * behaviour, checked against the vectors in fixtures/exit-policy-vectors.json.
 */
import { ipFamilyOf, parseIp } from '../addr/index.ts';
import { UsageError } from '../util/index.ts';
import { checkPort, formatDescriptorRule, formatRule, ruleCoversAddress, validateRule, type AddressFamily, type ExitPolicyRule } from './rule.ts';

/** An address to check: an IP literal (IPv6 with or without brackets) or its 4 or 16 bytes. */
export type AddressInput = string | Uint8Array;

/**
 * The answer of a full policy, as tor gives it. The "probably" answers only arise when the address
 * is unknown (the client has a hostname): a rule for part of the address space could apply.
 */
export type PolicyVerdict = 'accepted' | 'rejected' | 'probably-accepted' | 'probably-rejected';

/** An address to check as family and bytes; a UsageError for text that is no IP literal. */
export function toAddress(input: AddressInput): { family: AddressFamily; bytes: Uint8Array } {
  if (typeof input === 'string') {
    const a = parseIp(input);
    if (!a) throw new UsageError(`'${input}' is not an IP address (pass null for an unknown address)`);
    return a;
  }
  return { family: ipFamilyOf(input), bytes: input };
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
