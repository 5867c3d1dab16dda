import { UsageError, TelescopeError, type ErrorKind } from '../util/index.ts';
import { supportsExtend2, supportsHsRendV3, type NetDir, type NetRelay } from '../netdir/index.ts';

/**
 * Path selection (path-spec "Choosing a path"): relays are drawn at random in proportion to their
 * consensus bandwidth times the consensus' bandwidth-weights for the position (so that guard and
 * exit capacity is not squandered on middles), among those with the flags the position needs, and
 * never two relays of one family or (unless disabled for a test network) one /16 on a circuit.
 * A relay is chosen only for what its "pr" line says it implements: every relay a circuit is
 * extended to advertises Relay=2 (EXTEND2 with ntor), a rendezvous point HSRend=2, as tor's
 * router_choose_random_node and node_supports_* require.
 */

export type Position = 'guard' | 'middle' | 'exit';

/** Ports whose streams are long-lived: their circuits use Stable relays (tor's LongLivedPorts). */
export const LONG_LIVED_PORTS: ReadonlySet<number> = new Set([21, 22, 706, 1863, 5050, 5190, 5222, 5223, 6523, 6667, 6697, 8300]);

export interface PathRules {
  /** No two relays of one IPv4 /16 (or IPv6 /32) on a circuit. tor turns this off in test networks. */
  readonly enforceDistinctSubnets: boolean;
}

export const DEFAULT_PATH_RULES: PathRules = { enforceDistinctSubnets: true };

/** Why relays with the right flags (and exit policy) were still not chosen, counted once each. */
export interface PathShortfall {
  /** Relays with the flags (and, for an exit, the policy) and the protocols the position needs. */
  readonly eligible: number;
  /** Relays with the flags (and policy) that do not advertise the protocols the position needs. */
  readonly lacksProtocols: number;
  /** Of those: left out by the caller (relays that just failed us). */
  readonly excluded: number;
  /** Already on the circuit. */
  readonly onPath: number;
  /** In one family with a relay on the circuit. */
  readonly sameFamily: number;
  /** In one IPv4 /16 with a relay on the circuit (EnforceDistinctSubnets). */
  readonly sameSubnet: number;
}

export class NoPathError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'no-path';
  constructor(
    message: string,
    readonly position: Position,
    /** Set when relays had the right flags but the path rules removed them all. */
    readonly shortfall?: PathShortfall,
  ) {
    super(message);
  }
}

/** A source of uniform numbers in [0, 1), from the host's CSPRNG unless a test injects one. */
export type UniformRandom = () => number;

export const secureUniform: UniformRandom = () => {
  const b = globalThis.crypto.getRandomValues(new Uint32Array(2));
  // 53 random bits: 21 from one word, 32 from the other.
  return ((b[0]! >>> 11) * 0x100000000 + b[1]!) / 2 ** 53;
};

/** Whether a relay may be used at all in `position` (flags only). */
export function hasFlagsFor(r: NetRelay, position: Position, port?: number): boolean {
  const f = r.flags;
  if (!f.has('Running') || !f.has('Valid')) return false;
  if (position === 'guard') return f.has('Guard');
  if (position === 'exit' && f.has('BadExit')) return false;
  if (!f.has('Fast')) return false;
  if (port !== undefined && LONG_LIVED_PORTS.has(port) && !f.has('Stable')) return false;
  return true;
}

/** The bandwidth-weight for a relay in a position (path-spec "bandwidth-weights"), 0..1. */
export function positionWeight(dir: NetDir, r: NetRelay, position: Position): number {
  const w = dir.weights;
  if (w.size === 0) return 1;
  const scale = dir.params.get('bwweightscale') ?? 10000;
  const guard = r.flags.has('Guard');
  const exit = r.flags.has('Exit') && !r.flags.has('BadExit');
  const key = (() => {
    switch (position) {
      case 'guard': return guard && exit ? 'Wgd' : guard ? 'Wgg' : exit ? undefined : 'Wgm';
      case 'middle': return guard && exit ? 'Wmd' : guard ? 'Wmg' : exit ? 'Wme' : 'Wmm';
      case 'exit': return guard && exit ? 'Wed' : guard ? 'Weg' : exit ? 'Wee' : 'Wem';
    }
  })();
  if (key === undefined) return 0; // exit-only relays are never weighted as guards
  return (w.get(key) ?? scale) / scale;
}

function subnetKey(r: NetRelay): string {
  const a = r.ipv4.address;
  return `${a[0]}.${a[1]}`;
}

type Conflict = 'onPath' | 'sameFamily' | 'sameSubnet';

/** Why two relays may not share a circuit (same relay, same family, same /16), if they may not. */
function conflictBetween(a: NetRelay, b: NetRelay, rules: PathRules): Conflict | undefined {
  if (a.fingerprint === b.fingerprint) return 'onPath';
  // Families must be declared by both sides (path-spec "family").
  if (a.family.includes(b.fingerprint) && b.family.includes(a.fingerprint)) return 'sameFamily';
  if (a.familyIds.some((id) => b.familyIds.includes(id))) return 'sameFamily';
  if (rules.enforceDistinctSubnets && subnetKey(a) === subnetKey(b)) return 'sameSubnet';
  return undefined;
}

/** Whether two relays may not share a circuit: same relay, same family, or same /16. */
export function relaysConflict(a: NetRelay, b: NetRelay, rules: PathRules): boolean {
  return conflictBetween(a, b, rules) !== undefined;
}

/** Draw one relay with probability proportional to its weight. */
export function pickWeighted<T>(items: readonly T[], weight: (t: T) => number, random: UniformRandom): T | undefined {
  let total = 0;
  const weights = items.map((t) => {
    const w = Math.max(0, weight(t));
    total += w;
    return w;
  });
  if (items.length === 0) return undefined;
  // All zero (a fresh test network votes no bandwidth): fall back to uniform.
  if (total === 0) return items[Math.floor(random() * items.length)];
  let x = random() * total;
  for (let i = 0; i < items.length; i++) {
    x -= weights[i]!;
    if (x < 0) return items[i];
  }
  return items[items.length - 1];
}

export interface ChooseOptions {
  readonly rules?: PathRules;
  readonly random?: UniformRandom;
  /** Relays already on the circuit: nothing that conflicts with them is chosen. */
  readonly avoid?: readonly NetRelay[];
  /** Fingerprints never to choose (relays that just failed us). */
  readonly exclude?: ReadonlySet<string>;
}

/** The protocols a position needs, as a predicate and in words for a NoPathError. */
interface ProtocolNeed {
  readonly test: (r: NetRelay) => boolean;
  readonly text: string;
}

const EXTEND2: ProtocolNeed = { test: supportsExtend2, text: 'Relay=2' };
const RENDEZVOUS: ProtocolNeed = { test: (r) => supportsExtend2(r) && supportsHsRendV3(r), text: 'Relay=2 and HSRend=2' };

function choose(dir: NetDir, position: Position, ok: (r: NetRelay) => boolean, need: ProtocolNeed, opts: ChooseOptions, what: string): NetRelay {
  const rules = opts.rules ?? DEFAULT_PATH_RULES;
  const avoid = opts.avoid ?? [];
  const excluded = opts.exclude;
  const counts = { eligible: 0, lacksProtocols: 0, excluded: 0, onPath: 0, sameFamily: 0, sameSubnet: 0 };
  const candidates = dir.relays.filter((r) => {
    if (!ok(r)) return false;
    if (!need.test(r)) {
      counts.lacksProtocols++;
      return false;
    }
    counts.eligible++;
    if (excluded?.has(r.fingerprint)) {
      counts.excluded++;
      return false;
    }
    for (const a of avoid) {
      const conflict = conflictBetween(a, r, rules);
      if (conflict) {
        counts[conflict]++;
        return false;
      }
    }
    return true;
  });
  const picked = pickWeighted(candidates, (r) => r.bandwidth * positionWeight(dir, r, position), opts.random ?? secureUniform);
  if (!picked) throw new NoPathError(`no usable ${what} among ${dir.relays.length} relays: ${shortfallText(counts, position, need)}`, position, counts);
  return picked;
}

/**
 * The reason in words a person can act on: which rule removed the relays that had the flags. A
 * private network on one host fails on the /16 rule, and the fix is a torrc line, so say it.
 */
function shortfallText(c: PathShortfall, position: Position, need: ProtocolNeed): string {
  const needs = position === 'exit' ? 'the flags and exit policy it needs' : `the flags a ${position} needs`;
  if (c.eligible === 0 && c.lacksProtocols > 0) return `${c.lacksProtocols} have ${needs}, but none advertises ${need.text}`;
  if (c.eligible === 0) return `none has ${needs}`;
  const reasons = [
    c.excluded > 0 ? `${c.excluded} avoided after failing just now` : '',
    c.onPath > 0 ? `${c.onPath} already on the circuit` : '',
    c.sameFamily > 0 ? `${c.sameFamily} in one family with a relay on the circuit` : '',
    c.sameSubnet > 0 ? `${c.sameSubnet} in one /16 with a relay on the circuit` : '',
  ].filter((r) => r !== '');
  const hint = c.sameSubnet > 0 ? ' (relays on one host share a /16: a private network there needs EnforceDistinctSubnets 0)' : '';
  return `${c.eligible} have ${needs}, but ${reasons.join(', ')}${hint}`;
}

/** An exit whose policy summary accepts `port` (any exit-flagged-or-not relay that allows it). */
export function chooseExit(dir: NetDir, port: number | undefined, opts: ChooseOptions = {}): NetRelay {
  return choose(dir, 'exit', (r) => hasFlagsFor(r, 'exit', port) && (port === undefined ? r.flags.has('Exit') : r.exitPolicy.allowsPort(port)), EXTEND2, opts, port === undefined ? 'exit' : `exit for port ${port}`);
}

export function chooseMiddle(dir: NetDir, opts: ChooseOptions = {}): NetRelay {
  return choose(dir, 'middle', (r) => hasFlagsFor(r, 'middle'), EXTEND2, opts, 'middle relay');
}

/**
 * A rendezvous point for reaching an onion service: the last hop of the client's circuit, picked
 * like a middle among relays that advertise HSRend=2 (tor's CRN_RENDEZVOUS_V3).
 */
export function chooseRendezvousPoint(dir: NetDir, opts: ChooseOptions = {}): NetRelay {
  return choose(dir, 'middle', (r) => hasFlagsFor(r, 'middle'), RENDEZVOUS, opts, 'rendezvous point');
}

/**
 * A guard is the first hop, reached with CREATE2 over a direct link, not extended to; bridges
 * outside the consensus advertise nothing, so no protocol is asked of a guard here.
 */
export function chooseGuardCandidate(dir: NetDir, opts: ChooseOptions = {}): NetRelay {
  return choose(dir, 'guard', (r) => hasFlagsFor(r, 'guard'), { test: () => true, text: '' }, opts, 'guard');
}

/**
 * A full path: the given first hop, then (exit chosen first, as tor does, so the scarce resource
 * decides) a middle that conflicts with neither. `hops` is 3 by default; more hops add middles.
 */
export function choosePath(dir: NetDir, first: NetRelay, opts: ChooseOptions & { port?: number; hops?: number; exit?: NetRelay } = {}): NetRelay[] {
  const hops = opts.hops ?? 3;
  if (hops < 1) throw new UsageError(`a path needs at least one hop, not ${hops}`);
  if (hops === 1) return [first];
  const exit = opts.exit ?? chooseExit(dir, opts.port, { ...opts, avoid: [first] });
  const middles: NetRelay[] = [];
  for (let i = 0; i < hops - 2; i++) middles.push(chooseMiddle(dir, { ...opts, avoid: [first, exit, ...middles] }));
  return [first, ...middles, exit];
}
