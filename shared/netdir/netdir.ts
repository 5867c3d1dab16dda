import { toHex } from '../bytes/index.ts';
import type { RelayTarget } from '../circuit/index.ts';
import type { ProtocolList } from '../netdoc/index.ts';

/**
 * The client's usable view of the network: the relays of a verified consensus joined with their
 * verified microdescriptors. Path selection, guards and onion services read only this, so they do
 * not depend on how documents are parsed or fetched.
 */

/** An exit-policy summary as microdescriptors carry it ("accept 80,443" / "reject 1-65535"). */
export interface PortSummary {
  allowsPort(port: number): boolean;
}

export interface NetRelay {
  readonly nickname: string;
  /** 20-byte RSA identity digest. */
  readonly rsaIdentity: Uint8Array;
  /** Upper-case hex of the RSA identity. */
  readonly fingerprint: string;
  readonly ed25519Identity: Uint8Array | undefined;
  readonly ntorOnionKey: Uint8Array;
  readonly ipv4: { readonly address: Uint8Array; readonly port: number };
  readonly ipv6: { readonly address: Uint8Array; readonly port: number } | undefined;
  readonly dirPort: number;
  readonly flags: ReadonlySet<string>;
  /** Consensus weight (kilobytes per second, as voted). */
  readonly bandwidth: number;
  /** Family members as upper-case hex fingerprints (from `family $HEX...`). */
  readonly family: readonly string[];
  /** Family ids (prop 321 `family-ids`), compared for equality. */
  readonly familyIds: readonly string[];
  readonly exitPolicy: PortSummary;
  /** The subprotocols its consensus entry advertises ("pr"; empty when none): see the predicates below. */
  readonly protocols: ProtocolList;
}

export interface NetDir {
  readonly validAfter: Date;
  readonly freshUntil: Date;
  readonly validUntil: Date;
  readonly relays: readonly NetRelay[];
  /** Consensus `params`. */
  readonly params: ReadonlyMap<string, number>;
  /** Consensus `bandwidth-weights` (Wgg, Wmd, ...), scaled by `bwweightscale` (10000). */
  readonly weights: ReadonlyMap<string, number>;
  /** Shared random values (onion services). */
  readonly sharedRandCurrent: Uint8Array | undefined;
  readonly sharedRandPrevious: Uint8Array | undefined;
  /** Voting interval in seconds (fresh-until − valid-after), for onion-service time periods. */
  readonly votingIntervalSeconds: number;
}

export function relayTarget(r: NetRelay): RelayTarget {
  return {
    nickname: r.nickname,
    rsaIdentity: r.rsaIdentity,
    ...(r.ed25519Identity ? { ed25519Identity: r.ed25519Identity } : {}),
    ntorOnionKey: r.ntorOnionKey,
    ipv4: r.ipv4,
    ...(r.ipv6 ? { ipv6: r.ipv6 } : {}),
  };
}

export function fingerprintOf(rsaIdentity: Uint8Array): string {
  return toHex(rsaIdentity).toUpperCase();
}

export function findRelay(dir: NetDir, fingerprint: string): NetRelay | undefined {
  const fp = fingerprint.replace(/^\$/, '').toUpperCase();
  return dir.relays.find((r) => r.fingerprint === fp);
}

/** `nickname~FINGERPRINT` style label for logs and the popup. */
export function describeRelay(r: { nickname?: string; fingerprint?: string; rsaIdentity: Uint8Array }): string {
  return `${r.nickname ?? '?'}~${(r.fingerprint ?? fingerprintOf(r.rsaIdentity)).slice(0, 8)}`;
}

/*
 * What a relay must advertise for a role, as tor's node_supports_* and path selection require
 * (and Arti's relay selection): a relay is only asked to do what its "pr" line says it does. An
 * empty list (no "pr" line) supports nothing.
 */

/** Relay=2: CREATE2/EXTEND2 with ntor. Every relay a circuit is extended to needs it. */
export function supportsExtend2(r: NetRelay): boolean {
  return r.protocols.supports('Relay', 2);
}

/** HSDir=2: stores and serves v3 onion-service descriptors (tor's node_supports_v3_hsdir). */
export function supportsHsDirV3(r: NetRelay): boolean {
  return r.protocols.supports('HSDir', 2);
}

/** HSIntro=4: a v3 introduction point, Ed25519 auth keys (tor's node_supports_ed25519_hs_intro). */
export function supportsHsIntroV3(r: NetRelay): boolean {
  return r.protocols.supports('HSIntro', 4);
}

/** HSIntro=5: understands ESTABLISH_INTRO's DoS parameters extension. */
export function supportsHsIntroDoS(r: NetRelay): boolean {
  return r.protocols.supports('HSIntro', 5);
}

/** HSRend=2: a v3 rendezvous point (tor's node_supports_v3_rendezvous_point). */
export function supportsHsRendV3(r: NetRelay): boolean {
  return r.protocols.supports('HSRend', 2);
}
