/**
 * The exit policy tor builds for a relay from its configuration: ExitPolicy lines, IPv6Exit,
 * ExitPolicyRejectPrivate (private networks and the relay's own addresses), ReducedExitPolicy,
 * BridgeRelay, ExitRelay, and the default policy; redundant rules removed as tor removes them
 * (tor's manual and tor's observable behaviour, checked against fixtures/exit-policy-vectors.json).
 */
import { isLoopback, prefixMatches } from '../addr/index.ts';
import { ExitPolicy, toAddress, type AddressInput } from './exit-policy.ts';
import { parseExitPolicy } from './parse.ts';
import { PRIVATE_RULES, coversRule, intersectsRule, isCatchAll, type AddressFamily, type ExitPolicyRule } from './rule.ts';

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
