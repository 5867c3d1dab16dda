/**
 * The rules of a full exit policy: what one rule is, how torrc and router descriptors write it, the
 * address and port space it covers, and the networks tor calls "private".
 *
 * Sources: dir-spec §2.1.3 (exitpattern), tor's manual (ExitPolicy, ExitPolicyRejectPrivate).
 */
import { formatIpBracketed, parseIpPrefix, prefixMatches, type IpFamily } from '../addr/index.ts';
import { UsageError } from '../util/index.ts';

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

/** PRIVATE_NETWORKS as prefixes. */
export const PRIVATE_RULES: readonly { family: AddressFamily; bytes: Uint8Array; maskBits: number }[] =
  PRIVATE_NETWORKS.map((net) => {
    const p = parseIpPrefix(net);
    if (!p) throw new UsageError(`bad private network ${net}`);
    return { family: p.address.family, bytes: p.address.bytes, maskBits: p.maskBits };
  });

/** A port to check a policy against: an integer 0..65535 (0 is refused by every policy), else a UsageError. */
export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`port must be an integer 0..65535, not ${port}`);
  }
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

/** Throws a UsageError unless the rule is well formed (family, address length, mask, ports). */
export function validateRule(r: ExitPolicyRule): void {
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

/** Whether the rule's network holds the address (its port range aside). */
export function ruleCoversAddress(r: ExitPolicyRule, family: AddressFamily, bytes: Uint8Array): boolean {
  return r.family === family && prefixMatches(r.address, bytes, r.maskBits);
}

/** Whether rule a matches everything rule b matches. */
export function coversRule(a: ExitPolicyRule, b: ExitPolicyRule): boolean {
  return (
    a.family === b.family &&
    a.maskBits <= b.maskBits &&
    prefixMatches(a.address, b.address, a.maskBits) &&
    a.portMin <= b.portMin &&
    a.portMax >= b.portMax
  );
}

/** Whether some address and port match both rules. */
export function intersectsRule(a: ExitPolicyRule, b: ExitPolicyRule): boolean {
  return (
    a.family === b.family &&
    prefixMatches(a.address, b.address, Math.min(a.maskBits, b.maskBits)) &&
    a.portMin <= b.portMax &&
    b.portMin <= a.portMax
  );
}

/** A rule for every address and port of its family. */
export function isCatchAll(r: ExitPolicyRule): boolean {
  return r.maskBits === 0 && r.portMin <= 1 && r.portMax === 65535;
}
