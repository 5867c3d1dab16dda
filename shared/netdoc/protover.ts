import { ProtocolError } from '../util/index.ts';

/**
 * Subprotocol versions (tor-spec "Subprotocol versioning"; dir-spec "proto" and "pr" lines and the
 * consensus' required-/recommended-*-protocols): what a relay advertises, what a consensus asks
 * clients and relays to implement, and what Telescope implements. One list type for all of them:
 *
 *   const pr = ProtocolList.parse('Link=4-5 Relay=2-4 HSDir=2');
 *   pr.supports('Relay', 3)                     // true
 *   ProtocolList.parse('Relay=2-5').missingFrom(pr)  // what pr lacks of it: "Relay=5"
 *   pr.toString()                               // canonical text: "HSDir=2 Link=4-5 Relay=2-4"
 *
 * Names are open: an unknown protocol name (tomorrow's "Conflux=2" or "Datagram=1") stays
 * representable and is compared like any other, as tor and Arti keep them, so a consensus that
 * requires a protocol this build has never heard of is still refused by name.
 *
 * Limits as tor's protover.c sets them: names of letters, digits and '-', at most 100 characters;
 * versions 0..63; ranges "low-high" with low ≤ high. A name listed twice is an error (Arti refuses
 * it; tor's votes never contain one). "Name=" (no versions) is accepted and means nothing is
 * supported, so it compares equal to leaving the name out.
 */

/** The protocol names tor-spec defines today (the list stays open to others). */
export const ProtocolName = {
  /** Channel protocol versions (VERSIONS cell). */
  Link: 'Link',
  /** AUTHENTICATE cell methods: 1 RSA-SHA256-TLSSecret, 3 Ed25519-SHA256-RFC5705. */
  LinkAuth: 'LinkAuth',
  /** Circuit protocol: 1 TAP/CREATE, 2 ntor/CREATE2/EXTEND2, 3 IPv6 extends, 4 ntor-v3, 5 its extensions, 6 CGO. */
  Relay: 'Relay',
  /** Directory cache: 1 BEGIN_DIR fetches, 2 consensus diffs. */
  DirCache: 'DirCache',
  /** Onion-service directory: 2 v3 descriptors (blinded keys). */
  HSDir: 'HSDir',
  /** Introduction points: 4 v3 (Ed25519 auth keys), 5 the ESTABLISH_INTRO DoS extension. */
  HSIntro: 'HSIntro',
  /** Rendezvous points: 2 RENDEZVOUS2 of any length (v3). */
  HSRend: 'HSRend',
  /** Router descriptors: 2 Ed25519 identities and cross-certified onion keys. */
  Desc: 'Desc',
  /** Microdescriptors: 2 Ed25519 keys (consensus method 21 and later). */
  Microdesc: 'Microdesc',
  /** Consensus documents: 2 consensus method 21 and later. */
  Cons: 'Cons',
  /** Circuit padding machines: 2 (proposal 302). */
  Padding: 'Padding',
  /** Flow control: 1 authenticated SENDMEs (proposal 289), 2 congestion control (proposal 324). */
  FlowCtrl: 'FlowCtrl',
  /** Conflux (proposal 329). */
  Conflux: 'Conflux',
} as const;

export const MAX_PROTOCOL_VERSION = 63;
export const MAX_PROTOCOL_NAME_LENGTH = 100;

const NAME = /^[A-Za-z0-9-]+$/;
const RANGE = /^(\d{1,2})(?:-(\d{1,2}))?$/;
const ALL_VERSIONS = (1n << BigInt(MAX_PROTOCOL_VERSION + 1)) - 1n;

/** An inclusive range of versions: [low, high]. */
export type VersionRange = readonly [low: number, high: number];

/** A set of subprotocol versions per protocol name. Immutable. */
export class ProtocolList {
  static readonly EMPTY = new ProtocolList(new Map());

  /** Name → bit set of versions (bit v set when version v is listed); never an empty set. */
  private constructor(private readonly sets: ReadonlyMap<string, bigint>) {}

  /**
   * Parse a space-separated list ("Link=4-5 Relay=2"), as the "proto" and "pr" lines and the
   * consensus' protocol lines carry it. Throws ProtocolError (with `context`) on anything else.
   */
  static parse(text: string, context = 'protocol list'): ProtocolList {
    return ProtocolList.fromEntries(text.split(' ').filter((e) => e !== ''), context);
  }

  /** The same from entries already split on spaces (a netdoc item's arguments). */
  static fromEntries(entries: readonly string[], context = 'protocol list'): ProtocolList {
    const sets = new Map<string, bigint>();
    const seen = new Set<string>();
    for (const entry of entries) {
      const eq = entry.indexOf('=');
      const name = eq > 0 ? entry.slice(0, eq) : '';
      if (!NAME.test(name)) throw new ProtocolError(context, `protocol entry "${entry.slice(0, 40)}" is not Name=Versions`);
      if (name.length > MAX_PROTOCOL_NAME_LENGTH) throw new ProtocolError(context, `protocol name "${name.slice(0, 40)}…" is longer than ${MAX_PROTOCOL_NAME_LENGTH} characters`);
      if (seen.has(name)) throw new ProtocolError(context, `protocol "${name}" listed twice`);
      seen.add(name);
      let set = 0n;
      const list = entry.slice(eq + 1);
      if (list !== '') {
        for (const part of list.split(',')) {
          const m = RANGE.exec(part);
          const low = m ? Number(m[1]) : NaN;
          const high = m ? Number(m[2] ?? m[1]) : NaN;
          if (!m || low > high || high > MAX_PROTOCOL_VERSION) throw new ProtocolError(context, `bad version range "${part.slice(0, 20)}" for protocol "${name}"`);
          set |= rangeBits(low, high);
        }
      }
      if (set !== 0n) sets.set(name, set);
    }
    return new ProtocolList(sets);
  }

  /** From names and versions: `ProtocolList.of({ Link: [[4, 5]], Relay: [2] })`. */
  static of(spec: Readonly<Record<string, readonly (number | VersionRange)[]>>): ProtocolList {
    const sets = new Map<string, bigint>();
    for (const [name, versions] of Object.entries(spec)) {
      if (!NAME.test(name) || name.length > MAX_PROTOCOL_NAME_LENGTH) throw new ProtocolError('protocol list', `"${name.slice(0, 40)}" is not a protocol name`);
      let set = 0n;
      for (const v of versions) {
        const [low, high] = typeof v === 'number' ? [v, v] : v;
        if (!Number.isInteger(low) || !Number.isInteger(high) || low < 0 || low > high || high > MAX_PROTOCOL_VERSION) {
          throw new ProtocolError('protocol list', `bad version range ${low}-${high} for protocol "${name}"`);
        }
        set |= rangeBits(low, high);
      }
      if (set !== 0n) sets.set(name, set);
    }
    return new ProtocolList(sets);
  }

  /** Whether `version` of protocol `name` is listed. */
  supports(name: string, version: number): boolean {
    if (!Number.isInteger(version) || version < 0 || version > MAX_PROTOCOL_VERSION) return false;
    return ((this.sets.get(name) ?? 0n) >> BigInt(version)) & 1n ? true : false;
  }

  /** Whether every version in `other` is listed here. */
  supportsAll(other: ProtocolList): boolean {
    return other.missingFrom(this).isEmpty;
  }

  /** What of this list `supported` lacks (for a required list: the protocols to name in a refusal). */
  missingFrom(supported: ProtocolList): ProtocolList {
    return this.combine(supported, (a, b) => a & ~b);
  }

  union(other: ProtocolList): ProtocolList {
    return this.combine(other, (a, b) => a | b);
  }

  intersection(other: ProtocolList): ProtocolList {
    return this.combine(other, (a, b) => a & b);
  }

  get isEmpty(): boolean {
    return this.sets.size === 0;
  }

  /** Names with at least one version, sorted. */
  names(): string[] {
    return [...this.sets.keys()].sort(compareNames);
  }

  /** The versions of `name` as merged ascending ranges (empty when it is not listed). */
  ranges(name: string): VersionRange[] {
    const set = this.sets.get(name) ?? 0n;
    const out: [number, number][] = [];
    for (let v = 0; v <= MAX_PROTOCOL_VERSION; v++) {
      if (!((set >> BigInt(v)) & 1n)) continue;
      const last = out[out.length - 1];
      if (last && last[1] === v - 1) last[1] = v;
      else out.push([v, v]);
    }
    return out;
  }

  equals(other: ProtocolList): boolean {
    return this.sets.size === other.sets.size && [...this.sets].every(([k, v]) => other.sets.get(k) === v);
  }

  /** The canonical text: names sorted (by code unit, as tor sorts them), ranges merged ("Link=1-5 Relay=2,4"). */
  toString(): string {
    return this.names()
      .map((name) => `${name}=${this.ranges(name).map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',')}`)
      .join(' ');
  }

  private combine(other: ProtocolList, op: (a: bigint, b: bigint) => bigint): ProtocolList {
    const out = new Map<string, bigint>();
    for (const name of new Set([...this.sets.keys(), ...other.sets.keys()])) {
      const set = op(this.sets.get(name) ?? 0n, other.sets.get(name) ?? 0n) & ALL_VERSIONS;
      if (set !== 0n) out.set(name, set);
    }
    return new ProtocolList(out);
  }
}

function rangeBits(low: number, high: number): bigint {
  return ((1n << BigInt(high - low + 1)) - 1n) << BigInt(low);
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
